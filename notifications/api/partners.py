"""The partner API (partners.md): a partner's own feed of the enforcement changes of its
accounts, and its acknowledgement and report of each.

Only a key bound to one partner may call it (``create_api_client NAME --partner CODE``), and
such a key holds only the partner scopes: it sees the changes of accounts that reach the API
through that partner, and nothing else. A change outside the partner's feed is a 404, whether
or not it exists.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.serializers import EnforcementChangesQuerySerializer
from accounts.choices import Scope
from accounts.models import ApiClient, Partner
from config.problems import InvalidQuery
from notifications.propagations import (
    partner_feed,
    propagation_acknowledge,
    propagation_report,
)

from .serializers import (
    PartnerAcknowledgeSerializer,
    PartnerChangeSerializer,
    PartnerChangesSerializer,
    PartnerReportSerializer,
)

SEQ_PARAMETER = OpenApiParameter(
    "seq",
    int,
    OpenApiParameter.PATH,
    description="The enforcement change's `seq` (`data.change` in its webhook).",
)


def partner_of(request: Request) -> Partner:
    """The partner the calling key is bound to (the permission class has checked the scope)."""
    client = request.auth if isinstance(request.auth, ApiClient) else None
    if client is None or client.partner is None:
        raise exceptions.PermissionDenied("Only a partner's API key may call the partner API.")
    return client.partner


class PartnerChangesApi(APIView):
    scopes = {"GET": Scope.PARTNER_READ}

    @extend_schema(
        operation_id="partner_changes",
        summary="Your feed: the enforcement changes of your accounts, in commit order",
        description=(
            "Read from `after=0`, then pass each answer's `next` as `after`. Each item is one "
            "change of an account that reaches the API through you, with how far you have "
            "followed it (`propagation`). Places are handed out in commit order, so a reader "
            "never misses one; a change sent because you gained a channel to a restricted "
            "account has `propagation.trigger` `channel_added`."
        ),
        parameters=[EnforcementChangesQuerySerializer],
        responses={200: PartnerChangesSerializer},
        tags=["partner"],
    )
    def get(self, request: Request) -> Response:
        partner = partner_of(request)
        query = EnforcementChangesQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise InvalidQuery(query.errors)
        after: int = query.validated_data["after"]
        rows, more = partner_feed(partner=partner, after=after, limit=query.validated_data["limit"])
        body: dict[str, Any] = PartnerChangesSerializer(
            {"results": rows, "next": str(rows[-1].seq if rows else after), "has_more": more}
        ).data
        response = Response(body)
        response["Cache-Control"] = "private, no-cache"
        return response


class PartnerAcknowledgeApi(APIView):
    scopes = {"POST": Scope.PARTNER_REPORT}

    @extend_schema(
        operation_id="partner_change_acknowledge",
        summary="Say that you received a change",
        description="Idempotent: acknowledging again changes nothing and answers the same.",
        parameters=[SEQ_PARAMETER],
        request=PartnerAcknowledgeSerializer,
        responses={200: PartnerChangeSerializer},
        examples=[OpenApiExample("received", request_only=True, value={})],
        tags=["partner"],
    )
    def post(self, request: Request, seq: int) -> Response:
        partner = partner_of(request)
        PartnerAcknowledgeSerializer(data=request.data or {}).is_valid(raise_exception=True)
        propagation = propagation_acknowledge(partner=partner, seq=seq)
        return Response(PartnerChangeSerializer(propagation).data)


class PartnerReportApi(APIView):
    scopes = {"POST": Scope.PARTNER_REPORT}

    @extend_schema(
        operation_id="partner_change_report",
        summary="Say what you did about a change: applied or declined",
        description=(
            "A report is final. The same report again answers 200 and changes nothing; a "
            "different one is a 409 `already_reported`. Reporting also acknowledges."
        ),
        parameters=[SEQ_PARAMETER],
        request=PartnerReportSerializer,
        responses={200: PartnerChangeSerializer, 201: PartnerChangeSerializer},
        examples=[
            OpenApiExample(
                "applied",
                request_only=True,
                value={"outcome": "applied", "reference": "CC-4411", "note": "Keys revoked."},
            )
        ],
        tags=["partner"],
    )
    def post(self, request: Request, seq: int) -> Response:
        partner = partner_of(request)
        serializer = PartnerReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        propagation, created = propagation_report(
            partner=partner,
            seq=seq,
            outcome=data["outcome"],
            reference=data.get("reference", ""),
            note=data.get("note", ""),
        )
        return Response(PartnerChangeSerializer(propagation).data, status=201 if created else 200)
