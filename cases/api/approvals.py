"""Four-eyes approval requests in the API (decisions.md): list, read, approve, reject."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions, generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import request_actor
from accounts.choices import Scope
from accounts.idempotency import idempotent
from config.api import CursorPage, IdFilter

from ..choices import ApprovalAction, ApprovalState
from ..models import ApprovalRequest
from ..services import approval_approve, approval_reject
from .approval_serializers import APPROVAL_EXAMPLE, ApprovalDecideSerializer, ApprovalSerializer
from .serializers import CaseDetailSerializer
from .views import ACTING_USER_PARAMETER, IDEMPOTENCY_HEADER, _detail


class ApprovalFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ApprovalState.choices, method="filter_state")
    action = django_filters.ChoiceFilter(choices=ApprovalAction.choices)
    case = IdFilter(field_name="case_id")

    class Meta:
        model = ApprovalRequest
        fields = ["state", "action", "case"]

    def filter_state(
        self, queryset: QuerySet[ApprovalRequest], name: str, value: str
    ) -> QuerySet[ApprovalRequest]:
        """By the state as read now: a pending request past its expiry is expired."""
        now = timezone.now()
        if value == ApprovalState.PENDING:
            return queryset.filter(state=ApprovalState.PENDING, expires_at__gt=now)
        if value == ApprovalState.EXPIRED:
            return queryset.filter(
                state__in=[ApprovalState.PENDING, ApprovalState.EXPIRED]
            ).exclude(state=ApprovalState.PENDING, expires_at__gt=now)
        return queryset.filter(state=value)


def approvals_queryset() -> QuerySet[ApprovalRequest]:
    return ApprovalRequest.objects.select_related("case__account", "decision")


class ApprovalPage(CursorPage):
    ordering = "-id"


class ApprovalListApi(generics.ListAPIView[ApprovalRequest]):
    scopes = {"GET": Scope.CASES_READ}
    serializer_class = ApprovalSerializer
    pagination_class = ApprovalPage
    filterset_class = ApprovalFilter

    def get_queryset(self) -> Any:
        return approvals_queryset()

    @extend_schema(
        operation_id="approvals_list",
        summary="Four-eyes approval requests, newest first",
        description="Filter by `state` (e.g. `pending`: those a lead can still decide), "
        "`action` and `case`.",
        parameters=[ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample(
                "one pending",
                response_only=True,
                value={"next": None, "previous": None, "results": [APPROVAL_EXAMPLE]},
            )
        ],
        tags=["approvals"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


def _approval(approval_id: int) -> ApprovalRequest:
    found = approvals_queryset().filter(pk=approval_id).first()
    if found is None:
        raise exceptions.NotFound(f"No approval request {approval_id}.")
    return found


class ApprovalDetailApi(APIView):
    scopes = {"GET": Scope.CASES_READ}

    @extend_schema(
        operation_id="approvals_get",
        summary="One approval request",
        responses={200: ApprovalSerializer},
        parameters=[ACTING_USER_PARAMETER],
        examples=[OpenApiExample("pending", response_only=True, value=APPROVAL_EXAMPLE)],
        tags=["approvals"],
    )
    def get(self, request: Request, approval_id: int) -> Response:
        return Response(ApprovalSerializer(_approval(approval_id)).data)


DECIDE_DESCRIPTION = (
    "Leads only (or a client whose role is lead), and never the one who proposed it: the same "
    "person, in the admin or through a staff tool, or the same API client, is a 403 "
    "`self_approval`. A request no longer pending is a 409: `approval_expired` past its "
    "`expires_at`, `approval_superseded` if the case changed since the proposal, else "
    "`approval_not_pending`."
)


class ApprovalApproveApi(APIView):
    scopes = {"POST": Scope.CASES_WRITE}

    @extend_schema(
        operation_id="approvals_approve",
        summary="Approve, and carry the action out",
        description="The stored input is carried out as the action itself would be: the "
        "decision with its statement, the restrictions, the change feed, the notices and the "
        "webhooks. Answers the case. " + DECIDE_DESCRIPTION,
        request=ApprovalDecideSerializer,
        responses={200: CaseDetailSerializer},
        parameters=[IDEMPOTENCY_HEADER, ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample(
                "approve",
                request_only=True,
                value={"comment": "Checked the evidence; agreed."},
            )
        ],
        tags=["approvals"],
    )
    @idempotent
    def post(self, request: Request, approval_id: int) -> Response:
        body = ApprovalDecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        done = approval_approve(
            approval=approval_id,
            actor=request_actor(request),
            comment=body.validated_data.get("comment", ""),
        )
        return Response(_detail(done.case_id, request))


class ApprovalRejectApi(APIView):
    scopes = {"POST": Scope.CASES_WRITE}

    @extend_schema(
        operation_id="approvals_reject",
        summary="Reject: the case stays as it is",
        description="The case stays investigated and the suspension in force; the proposer is "
        "told. Answers the request. " + DECIDE_DESCRIPTION,
        request=ApprovalDecideSerializer,
        responses={200: ApprovalSerializer},
        parameters=[IDEMPOTENCY_HEADER, ACTING_USER_PARAMETER],
        examples=[
            OpenApiExample(
                "reject",
                request_only=True,
                value={"comment": "The evidence does not show intent; remediate instead."},
            )
        ],
        tags=["approvals"],
    )
    @idempotent
    def post(self, request: Request, approval_id: int) -> Response:
        body = ApprovalDecideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        done = approval_reject(
            approval=approval_id,
            actor=request_actor(request),
            comment=body.validated_data.get("comment", ""),
        )
        return Response(ApprovalSerializer(_approval(done.pk)).data)
