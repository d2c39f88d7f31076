"""RFC 9457 problem details: the one place that turns an error into an API response.

Every error under ``/api/`` leaves as ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail``, ``instance`` and a stable ``code``; validation errors add ``errors``, a
list of ``{pointer, field, detail, code}`` (``pointer`` is a JSON Pointer into the request body,
or the query parameter's name). The DRF exception handler, the lean enforcement views and the
middleware that guards Django's own 404/413/500 answers all call :func:`problem_for_exception`
or :func:`problem_response`, so views never build error bodies. See docs/adr on problem details.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import DomainError

from .limits import DEFAULT_MAX_BODY_BYTES

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"

# DRF's default codes, renamed where ours read better.
DRF_CODES = {
    "not_authenticated": "not_authenticated",
    "authentication_failed": "authentication_failed",
    "permission_denied": "forbidden",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "not_acceptable": "not_acceptable",
    "unsupported_media_type": "unsupported_media_type",
    "throttled": "throttled",
    "parse_error": "malformed_request",
    "invalid": "invalid_input",
}


class InvalidQuery(exceptions.ValidationError):
    """A query parameter (filter, cursor, limit) is not valid: 400, not 422."""

    status_code = 400
    default_code = "invalid_query"


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def max_body_bytes() -> int:
    """The largest body the API reads (``API_MAX_BODY_BYTES``; Django's own limit follows it)."""
    return int(getattr(settings, "API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES))


def problem_type(code: str) -> str:
    base = getattr(settings, "PROBLEM_TYPE_BASE", "https://tscase.example/problems/")
    return f"{base}{code}"


def problem_body(
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return body


def problem_response(
    *, status: int, code: str, detail: str, request: HttpRequest | None = None, **kwargs: Any
) -> HttpResponse:
    """A plain Django response carrying a problem (for code outside DRF views)."""
    headers = kwargs.pop("headers", None) or {}
    body = problem_body(
        status=status,
        code=code,
        detail=detail,
        instance=request.path if request is not None else None,
        **kwargs,
    )
    response = HttpResponse(
        json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE, headers=headers
    )
    return response


def _pointer(parts: Iterable[str | int]) -> str:
    escaped = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return "/" + "/".join(escaped)


def _flatten(detail: Any, path: list[str | int], query: bool) -> list[dict[str, Any]]:
    """DRF's nested error detail as a flat list of field errors with JSON Pointers."""
    if isinstance(detail, dict):
        out: list[dict[str, Any]] = []
        for key, value in detail.items():
            sub = path if key == "non_field_errors" else [*path, key]
            out.extend(_flatten(value, sub, query))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail | str) for item in detail):
            return [e for item in detail for e in _flatten(item, path, query)]
        out = []
        for index, item in enumerate(detail):
            if item:
                out.extend(_flatten(item, [*path, index], query))
        return out
    field = ".".join(str(p) for p in path)
    entry: dict[str, Any] = {
        "pointer": field if query else _pointer(path),
        "field": field,
        "detail": str(detail),
        "code": getattr(detail, "code", None) or "invalid",
    }
    return [entry]


def _domain_error_fields(exc: DomainError) -> list[dict[str, Any]]:
    fields = exc.fields
    if isinstance(fields.get("errors"), list):
        return list(fields["errors"])
    names: list[str] = []
    if isinstance(fields.get("field"), str):
        names.append(fields["field"])
    missing = fields.get("missing")
    if isinstance(missing, list | tuple):
        names.extend(str(m) for m in missing)
    return [
        {
            "pointer": _pointer(name.split(".")),
            "field": name,
            "detail": exc.detail if "missing" not in fields else "This field is required.",
            "code": exc.code,
        }
        for name in names
    ]


def problem_for_exception(exc: Exception, request: HttpRequest | None) -> HttpResponse | None:
    """The problem response for a known error, or ``None`` for an unexpected one."""
    if isinstance(exc, DomainError):
        extra = {}
        if exc.code == "stale_state" and exc.fields.get("actual"):
            extra["current_state"] = exc.fields["actual"]
        return problem_response(
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            request=request,
            errors=_domain_error_fields(exc),
            extra=extra or None,
        )
    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        # The database is down or restarting: tell the caller to retry, quickly and clearly.
        logger.warning("database unavailable on %s: %s", request.path if request else "-", exc)
        return problem_response(
            status=503,
            code="database_unavailable",
            title="Service unavailable",
            detail="The database is unreachable; retry shortly.",
            request=request,
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(f"The request body is larger than {max_body_bytes()} bytes.")
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.messages)
    if not isinstance(exc, exceptions.APIException):
        return None
    status = exc.status_code
    errors: list[dict[str, Any]] = []
    if isinstance(exc, exceptions.ValidationError):
        query = isinstance(exc, InvalidQuery)
        if not query:
            status = 422
        errors = _flatten(exc.detail, [], query)
        code = "invalid_query" if query else "invalid_input"
        detail = "A query parameter is not valid." if query else "The request body is not valid."
        if errors:
            detail = f"{detail} {errors[0]['field'] or 'body'}: {errors[0]['detail']}"
    else:
        raw_code = exc.default_code if isinstance(exc.default_code, str) else "error"
        detail_codes = exc.get_codes()
        if isinstance(detail_codes, str):
            raw_code = detail_codes
        code = DRF_CODES.get(raw_code, raw_code)
        detail = str(exc.detail)
    headers: dict[str, str] = {}
    wait = getattr(exc, "wait", None)
    if wait is not None:
        headers["Retry-After"] = str(int(wait))
    return problem_response(
        status=status, code=code, detail=detail, request=request, errors=errors, headers=headers
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: typed domain errors and DRF's own, as problem details."""
    request = context.get("request")
    base = drf_exception_handler(exc, context) if not isinstance(exc, DomainError) else None
    problem = problem_for_exception(exc, request._request if request is not None else None)
    if problem is None:
        return None
    set_rollback()
    body = json.loads(problem.content)
    response = Response(body, status=problem.status_code, content_type=PROBLEM_CONTENT_TYPE)
    if base is not None:
        for header in ("WWW-Authenticate", "Allow", "Retry-After"):
            if header in base:
                response[header] = base[header]
    if "Retry-After" in problem:
        response["Retry-After"] = problem["Retry-After"]
    return response


class ApiProblemMiddleware:
    """Keeps ``/api/`` answers machine-readable whatever fails before or after a view.

    Rejects bodies over ``API_MAX_BODY_BYTES`` with 413 before a view reads them, turns an
    unhandled exception into a 500 problem (logged with its traceback) and replaces any HTML
    error page Django produced for an ``/api/`` path (its 404, CSRF 403, 400) with a problem.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        limit = max_body_bytes()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return problem_response(
                status=413,
                code="payload_too_large",
                detail=f"The request body is larger than {limit} bytes.",
                request=request,
            )
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # A WSGI application reads CONTENT_LENGTH bytes of the body: a chunked body would be
            # read as empty (and never held to the limit above), so it is refused outright.
            return problem_response(
                status=411,
                code="length_required",
                detail="Send the request body with a Content-Length; chunked request bodies "
                "are not accepted.",
                request=request,
            )
        if "\x00" in request.path:
            # Not a 404: a gateway may read "no such account" as "allow".
            return problem_response(
                status=400,
                code="bad_request",
                detail="The path may not contain NUL characters.",
                request=request,
            )
        if "\x00" in request.META.get("QUERY_STRING", "") or any(
            "\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()
        ):
            return problem_response(
                status=400,
                code="invalid_query",
                detail="Query parameters may not contain NUL characters.",
                request=request,
            )
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and content_type.startswith("text/html"):
            status = response.status_code
            return problem_response(
                status=status,
                code=_CODE_FOR_STATUS.get(status, "error"),
                detail=_DETAIL_FOR_STATUS.get(status, HTTPStatus(status).phrase),
                request=request,
            )
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        known = problem_for_exception(exception, request)
        if known is not None:
            return known
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        return problem_response(
            status=500,
            code="server_error",
            detail="The server failed to handle this request; it has been logged.",
            request=request,
        )


_CODE_FOR_STATUS = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    500: "server_error",
}
_DETAIL_FOR_STATUS = {
    404: "No API resource at this path.",
    403: "The request was refused.",
    500: "The server failed to handle this request; it has been logged.",
}
