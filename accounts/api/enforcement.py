"""Enforcement: what an API gateway asks about every request it serves.

``GET /enforcement/{external_id}`` is a lean Django view rather than a DRF view: it is on the
gateway's hot path (docs/performance.md), so it reads the key and the account's status in one
round trip (two indexed reads joined) and nothing else, or answers both from the shared cache
when ``CACHE_URL`` is set. The DRF class :class:`EnforcementGetApi` only describes it in the
OpenAPI schema; ``enforcement_lookup.cls`` points drf-spectacular at it. Errors still go through
``config.problems``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, cast

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import bearer_token, key_hash, key_prefix
from accounts.cache import api_key_key, cache_enabled, cache_fill, cache_get, enforcement_key
from accounts.choices import Scope
from accounts.external_ids import is_external_id
from cases.gateway_reads import feed_cursor_expired
from cases.selectors import (
    enforcement_changes,
    enforcement_check,
    enforcement_fresh_for,
    enforcement_get,
    enforcement_get_with_key,
)
from config.db import read_with_one_retry
from config.problems import InvalidQuery, problem_for_exception
from config.renderers import json_plain
from config.times import ContractJSONEncoder

from .idle_poll import CACHE_CONTROL, DECIDED, feed_etag, idle_poll_etag
from .permissions import caller_may
from .serializers import (
    EXTERNAL_ID_PARAMETER,
    EnforcementChangesQuerySerializer,
    EnforcementChangesSerializer,
    EnforcementCheckRequestSerializer,
    EnforcementCheckSerializer,
    EnforcementSerializer,
    external_id_from_path,
)

JSON_TYPES = ("application/json", "application/*", "*/*", "application/problem+json")


def _accepts_json(request: HttpRequest) -> bool:
    accept = request.META.get("HTTP_ACCEPT")
    if not accept:
        return True
    return any(part.split(";")[0].strip().lower() in JSON_TYPES for part in accept.split(","))


def _encode(row: dict[str, Any]) -> list[Any]:
    body = json.dumps(row, cls=ContractJSONEncoder, separators=(",", ":")).encode()
    return [body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"']


def _with_key(token: str, external_id: str) -> list[Any] | None:
    """Key check and status in one round trip, or none when both are in the shared cache."""
    prefix = key_prefix(token)
    if prefix is None:
        raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
    digest = key_hash(token)
    client: Any = None
    seen_client: Any = None
    seen_account: Any = None
    caching = cache_enabled()
    if caching:
        client_hit, seen_client = cache_get(api_key_key(prefix))
        account_hit, seen_account = cache_get(enforcement_key(external_id))
        if client_hit and account_hit:
            client = seen_client
    found: Any = seen_account if client is not None else None
    if client is None:
        client, row = read_with_one_retry(
            lambda: enforcement_get_with_key(key_prefix=prefix, external_id=external_id)
        )
        found = _encode(row) if row is not None else None
        if caching and client is not None and hmac.compare_digest(client["hash"], digest):
            cache_fill(api_key_key(prefix), seen_client, client)
            if found is not None and row is not None:
                cache_fill(
                    enforcement_key(external_id),
                    seen_account,
                    found,
                    fresh_for=enforcement_fresh_for(row),
                )
    if client is None or not hmac.compare_digest(client["hash"], digest):
        raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
    if Scope.ENFORCEMENT_READ not in client["scopes"]:
        raise exceptions.PermissionDenied(
            f"The API key lacks the '{Scope.ENFORCEMENT_READ}' scope."
        )
    return cast(list[Any] | None, found)


def _with_session(request: HttpRequest, external_id: str) -> list[Any] | None:
    """Staff with a session: their role decides; the status is read (and cached) as usual."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise exceptions.NotAuthenticated()
    if not caller_may(client=None, user=user, scope=Scope.ENFORCEMENT_READ):
        raise exceptions.PermissionDenied("Your role does not allow reading enforcement.")
    key = enforcement_key(external_id)
    seen: Any = None
    if cache_enabled():
        hit, seen = cache_get(key)
        if hit:
            return cast(list[Any], seen)
    row = enforcement_get(external_id=external_id)
    if row is None:
        return None
    found = _encode(row)
    if cache_enabled():
        cache_fill(key, seen, found, fresh_for=enforcement_fresh_for(row))
    return found


@csrf_exempt
def enforcement_lookup(request: HttpRequest, external_id: str) -> HttpResponseBase:
    try:
        if request.method not in ("GET", "HEAD"):
            raise exceptions.MethodNotAllowed(request.method or "")
        if not _accepts_json(request):
            raise exceptions.NotAcceptable()
        external_id_from_path(external_id)  # before any read: no id that breaks the rule is a 404
        token = bearer_token(request)
        if token is not None:
            found = _with_key(token, external_id)
        else:
            found = _with_session(request, external_id)
        if found is None:
            raise exceptions.NotFound(f"No account '{external_id}' has been seen.")
    except exceptions.APIException as exc:
        response = problem_for_exception(exc, request)
        assert response is not None  # noqa: S101 -- every APIException maps to a problem
        if isinstance(exc, exceptions.MethodNotAllowed):
            response["Allow"] = "GET, HEAD"
        elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    body, etag = found
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Authorization, Cookie"}
    if request.META.get("HTTP_IF_NONE_MATCH") == etag:
        return HttpResponse(status=304, headers=headers)
    return HttpResponse(body, content_type="application/json", headers=headers)


class EnforcementGetApi(APIView):
    """Schema-only twin of :func:`enforcement_lookup` (which serves the requests)."""

    scopes = {"GET": Scope.ENFORCEMENT_READ}

    @extend_schema(
        operation_id="enforcement_get",
        summary="Whether an account may use the API now",
        description=(
            "The API gateway's hot path: one indexed read (or a shared-cache hit invalidated on "
            "every change). Answers `ETag` and `Cache-Control: private, no-cache`; send "
            "`If-None-Match` to get 304 when nothing changed. An account never seen: 404; an "
            "id that breaks the external id rule (which no account can have): 422."
        ),
        parameters=[EXTERNAL_ID_PARAMETER],
        responses={200: EnforcementSerializer, 304: None},
        examples=[
            OpenApiExample(
                "suspended",
                response_only=True,
                value={
                    "account": "acme-ai",
                    "status": "suspended",
                    "since": "2026-11-25T10:00:00Z",
                    "case": 42,
                    "policies": ["competing-model-development"],
                },
            )
        ],
        tags=["enforcement"],
    )
    def get(self, request: Request, external_id: str) -> Response:  # pragma: no cover
        raise exceptions.MethodNotAllowed("GET")


enforcement_lookup.cls = EnforcementGetApi  # type: ignore[attr-defined]  # for drf-spectacular
enforcement_lookup.initkwargs = {}  # type: ignore[attr-defined]


class EnforcementCheckApi(APIView):
    """Many accounts at once (up to 1,000), read in one query."""

    scopes = {"POST": Scope.ENFORCEMENT_READ}

    @extend_schema(
        operation_id="enforcement_check",
        summary="Statuses of up to 1,000 accounts",
        request=EnforcementCheckRequestSerializer,
        responses={200: EnforcementCheckSerializer},
        examples=[
            OpenApiExample(
                "two accounts", request_only=True, value={"accounts": ["acme-ai", "globex"]}
            ),
            OpenApiExample(
                "statuses",
                response_only=True,
                value={
                    "results": [
                        {
                            "account": "acme-ai",
                            "known": True,
                            "status": "suspended",
                            "since": "2026-11-25T10:00:00Z",
                            "case": 42,
                        },
                        {
                            "account": "globex",
                            "known": False,
                            "status": None,
                            "since": None,
                            "case": None,
                        },
                    ]
                },
            ),
        ],
        tags=["enforcement"],
    )
    def post(self, request: Request) -> HttpResponseBase:
        data = request.data
        accounts = data.get("accounts") if isinstance(data, dict) else None
        # Fast path for the common, well-formed body; the serializer explains anything else.
        if not (
            isinstance(data, dict)
            and len(data) == 1
            and isinstance(accounts, list)
            and 0 < len(accounts) <= 1000
            and all(a.__class__ is str and is_external_id(a) for a in accounts)
        ):
            serializer = EnforcementCheckRequestSerializer(data=data)
            serializer.is_valid(raise_exception=True)
            accounts = serializer.validated_data["accounts"]
        # The rows are JSON-ready values: no serializer pass over 1,000 items.
        results = enforcement_check(external_ids=accounts)
        return HttpResponse(json_plain({"results": results}), content_type="application/json")


class EnforcementChangesApi(APIView):
    """The commit-ordered feed of enforcement changes."""

    scopes = {"GET": Scope.ENFORCEMENT_READ}

    @extend_schema(
        operation_id="enforcement_changes",
        summary="Every enforcement change, in commit order",
        description=(
            "Read from `after=0`, then pass each answer's `next` as `after`. `seq` is assigned "
            "in commit order without gaps, so a reader never misses or reorders a change."
        ),
        parameters=[EnforcementChangesQuerySerializer],
        responses={200: EnforcementChangesSerializer},
        examples=[
            OpenApiExample(
                "one change",
                response_only=True,
                value={
                    "results": [
                        {
                            "seq": 7,
                            "account": "acme-ai",
                            "status": "suspended",
                            "previous_status": "active",
                            "case": 42,
                            "policies": ["competing-model-development"],
                            "at": "2026-11-25T10:00:00Z",
                        }
                    ],
                    "next": "7",
                    "has_more": False,
                },
            )
        ],
        tags=["enforcement"],
    )
    def get(self, request: Request) -> Response:
        query = EnforcementChangesQuerySerializer(data=request.query_params)
        if not query.is_valid():
            raise InvalidQuery(query.errors)
        after: int = query.validated_data["after"]
        limit: int = query.validated_data["limit"]
        changes, more = enforcement_changes(after=after, limit=limit)
        if feed_cursor_expired(first=changes[0] if changes else None):
            raise FeedCursorExpired()
        last = changes[-1]["seq"] if changes else after
        etag = feed_etag(after=after, limit=limit, last=last)
        if not changes and request.META.get("HTTP_IF_NONE_MATCH") == etag:
            return Response(status=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})
        body: dict[str, Any] = EnforcementChangesSerializer(
            {"results": changes, "next": str(last), "has_more": more}
        ).data
        response = Response(body)
        response["Cache-Control"] = CACHE_CONTROL
        response["ETag"] = etag
        return response


class FeedCursorExpired(exceptions.APIException):
    status_code = 410
    default_code = "cursor_expired"
    default_detail = (
        "The cursor is older than the feed's retention: read the snapshot "
        "(GET /api/v1/enforcement/snapshot) and follow the feed from its cursor."
    )


def enforcement_changes_view(request: HttpRequest) -> HttpResponseBase:
    """The feed, with a fast answer for an idle mirror's conditional poll.

    A ``GET`` with a bearer key, a plain ``after`` and ``limit`` and an ``If-None-Match`` that
    names the empty page at ``after`` is answered 304 from one round trip (the key and the
    feed's head) while no change has committed after it, without the framework's dispatch
    (:func:`accounts.api.idle_poll.idle_poll_etag`; the WSGI entry answers it even earlier).
    Anything else, and any doubt, goes to :class:`EnforcementChangesApi`.
    """
    if request.META.get(DECIDED):
        return _changes_api(request)  # the WSGI entry has read the head already: not idle
    etag = idle_poll_etag(
        method=request.method or "",
        if_none_match=request.META.get("HTTP_IF_NONE_MATCH"),
        authorization=request.META.get("HTTP_AUTHORIZATION"),
        params=request.GET,
    )
    if etag is not None:
        return HttpResponse(status=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})
    return _changes_api(request)


_changes_api = csrf_exempt(EnforcementChangesApi.as_view())
enforcement_changes_view.cls = EnforcementChangesApi  # type: ignore[attr-defined]
enforcement_changes_view.initkwargs = {}  # type: ignore[attr-defined]
