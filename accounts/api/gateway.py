"""What API gateways call (gateway.md): the authorization check, and the snapshot a mirror
starts from.

``/api/v1/gateway/authz`` (and any path below it, for Envoy's ``path_prefix``) answers any
method: 200 lets the request pass, 403 refuses it, with the ``x-tns-*`` headers that say why and
which decision to contest. It is a lean Django view, like the lookup: one indexed round trip
reads the gateway's key (``x-tns-key``: the customer's own ``Authorization`` header is forwarded
by the gateway) and the account, and :mod:`gateway.verdict` (shared with every mirror) decides.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.authentication import key_hash, key_prefix
from accounts.choices import Scope
from accounts.external_ids import EXTERNAL_ID_PATTERN, is_external_id
from accounts.external_ids import MAX_LENGTH as EXTERNAL_ID_MAX_LENGTH
from cases.gateway_reads import enforcement_snapshot, gateway_authz_read
from config.db import read_with_one_retry
from config.problems import (
    PROBLEM_CONTENT_TYPE,
    problem_for_exception,
    problem_response,
    problem_type,
)
from gateway.verdict import ACCOUNT_ID_INVALID, ACCOUNT_ID_MISSING, refusal_problem, verdict

KEY_HEADER = "x-tns-key"
HEADER_MAX = 200


def _header(request: HttpRequest, name: str) -> str | None:
    value = request.headers.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _client_for(token: str | None, external_id: str) -> tuple[Any, int]:
    """The account's stored restrictions (``None``: never seen) and the feed's head, after
    checking the gateway's key; raises the API's authentication and permission errors."""
    if not token:
        raise exceptions.NotAuthenticated(f"Send the gateway's API key in {KEY_HEADER}.")
    prefix = key_prefix(token)
    if prefix is None:
        raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
    client, restrictions, head = read_with_one_retry(
        lambda: gateway_authz_read(key_prefix=prefix, external_id=external_id)
    )
    if client is None or not hmac.compare_digest(client["hash"], key_hash(token)):
        raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
    if Scope.ENFORCEMENT_READ not in client["scopes"] or client["partner"] is not None:
        raise exceptions.PermissionDenied(
            f"The API key lacks the '{Scope.ENFORCEMENT_READ}' scope."
        )
    return restrictions, head


@csrf_exempt
def gateway_authz(request: HttpRequest, rest: str = "") -> HttpResponseBase:
    try:
        external_id = _header(request, "x-account-id")
        if external_id is None:
            code, detail = ACCOUNT_ID_MISSING
            return problem_response(status=400, code=code, detail=detail, request=request)
        if not is_external_id(external_id):
            code, detail = ACCOUNT_ID_INVALID
            return problem_response(status=400, code=code, detail=detail, request=request)
        restrictions, head = _client_for(_header(request, KEY_HEADER), external_id)
    except exceptions.APIException as exc:
        response = problem_for_exception(exc, request)
        assert response is not None  # noqa: S101 -- every APIException maps to a problem
        return response
    model = (_header(request, "x-model") or "")[:HEADER_MAX] or None
    feature = (_header(request, "x-feature") or "")[:HEADER_MAX] or None
    found = verdict(restrictions, model=model, feature=feature)
    headers = {
        "x-tns-status": found.status,
        "x-tns-feed-seq": str(head),
        "Cache-Control": "no-store",
    }
    if found.allowed:
        if found.rate_limit:
            headers["x-tns-rate-limit"] = found.rate_limit
        return HttpResponse(status=200, headers=headers)
    assert found.reason is not None  # noqa: S101 -- a refusal always has its reason
    headers["x-tns-reason"] = found.reason
    if found.decision:
        headers["x-tns-decision"] = found.decision
    body = refusal_problem(
        reason=found.reason,
        account=external_id,
        decision=found.decision,
        instance=request.path,
        type_base=problem_type(""),
    )
    return HttpResponse(
        json.dumps(body), status=403, content_type=PROBLEM_CONTENT_TYPE, headers=headers
    )


AUTHZ_DESCRIPTION = (
    "Any method, and any path below `/gateway/authz/` (for Envoy's `path_prefix`). The "
    "gateway's key goes in `x-tns-key` (the customer's `Authorization` header is "
    "forwarded); the account in `x-account-id`, optionally `x-model` and `x-feature`. "
    "200: allowed (`x-tns-status` `active`, `restricted` or `unknown`; "
    "`x-tns-rate-limit` when a rate limit applies). 403: refused (`x-tns-reason` "
    "`suspended`, `terminated`, `model_blocked` or `feature_blocked`, `x-tns-decision` "
    "the decision to contest; the body a problem the gateway may pass on). 400: no "
    "`x-account-id`. Every answer carries `x-tns-feed-seq`, the change it reflects."
)
AUTHZ_HEADERS = [
    OpenApiParameter(
        "x-account-id",
        {
            "type": "string",
            "minLength": 1,
            "maxLength": EXTERNAL_ID_MAX_LENGTH,
            "pattern": EXTERNAL_ID_PATTERN,
        },
        OpenApiParameter.HEADER,
        required=True,
        description="The account's external id; missing, or one no account can have: 400.",
    ),
    OpenApiParameter("x-model", str, OpenApiParameter.HEADER),
    OpenApiParameter("x-feature", str, OpenApiParameter.HEADER),
]
AUTHZ_EXAMPLE = OpenApiExample(
    "suspended",
    response_only=True,
    status_codes=["403"],
    value={
        "type": "about:blank",
        "title": "API access suspended",
        "status": 403,
        "code": "suspended",
        "detail": "API access suspended for account acme-ai. Contest decision sor_1.",
        "decision": "sor_1",
    },
)


class GatewayAuthzApi(APIView):
    """Schema-only twin of :func:`gateway_authz` (which serves every method)."""

    scopes = {"GET": Scope.ENFORCEMENT_READ}
    authentication_classes: list[Any] = []

    @extend_schema(
        operation_id="gateway_authz",
        summary="May this request pass? (Envoy ext_authz, NGINX auth_request, Traefik forwardAuth)",
        description=AUTHZ_DESCRIPTION,
        parameters=AUTHZ_HEADERS,
        responses={200: OpenApiResponse(description="Allowed.")},
        examples=[AUTHZ_EXAMPLE],
        auth=[{"gatewayKey": []}],  # type: ignore[list-item]  # security requirements
        tags=["gateway"],
    )
    def get(self, request: Request) -> HttpResponse:  # pragma: no cover
        raise exceptions.MethodNotAllowed("GET")


class GatewayAuthzPathApi(GatewayAuthzApi):
    """Schema-only twin of :func:`gateway_authz_path`: the check below a path prefix."""

    @extend_schema(
        operation_id="gateway_authz_path",
        summary="The same check, below a path prefix (the original request's path follows)",
        description=AUTHZ_DESCRIPTION,
        parameters=[
            OpenApiParameter(
                "rest", str, OpenApiParameter.PATH, description="The original request's path."
            ),
            *AUTHZ_HEADERS,
        ],
        responses={200: OpenApiResponse(description="Allowed.")},
        examples=[AUTHZ_EXAMPLE],
        auth=[{"gatewayKey": []}],  # type: ignore[list-item]  # security requirements
        tags=["gateway"],
    )
    def get(self, request: Request, rest: str = "") -> HttpResponse:  # pragma: no cover
        raise exceptions.MethodNotAllowed("GET")


@csrf_exempt
def gateway_authz_path(request: HttpRequest, rest: str) -> HttpResponseBase:
    """:func:`gateway_authz` below a path prefix (Envoy's ``path_prefix``)."""
    return gateway_authz(request, rest)


gateway_authz.cls = GatewayAuthzApi  # type: ignore[attr-defined]  # for drf-spectacular
gateway_authz.initkwargs = {}  # type: ignore[attr-defined]
gateway_authz_path.cls = GatewayAuthzPathApi  # type: ignore[attr-defined]
gateway_authz_path.initkwargs = {}  # type: ignore[attr-defined]


class EnforcementSnapshotApi(APIView):
    scopes = {"GET": Scope.ENFORCEMENT_READ}

    @extend_schema(
        operation_id="enforcement_snapshot",
        summary="Every account that is not active, consistent with a feed cursor",
        description=(
            "Newline-delimited JSON (`application/x-ndjson`), read in one transaction: a "
            'header line `{"cursor", "taken_at", "accounts"}`, one line per account '
            "(`account`, `status`, `since`, `until`, `case`, `restrictions`), and an end line "
            '`{"end": true, "accounts", "cursor"}`; a body without the end line was cut short. '
            "Follow the change feed from `cursor`. An account whose restrictions all ended "
            "since it was written is listed `active`, with none."
        ),
        responses={(200, "application/x-ndjson"): OpenApiResponse(description="The snapshot.")},
        tags=["enforcement"],
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        response = StreamingHttpResponse(
            enforcement_snapshot(), content_type="application/x-ndjson"
        )
        response["Cache-Control"] = "no-store"
        return response
