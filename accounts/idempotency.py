"""``Idempotency-Key`` for writes a client may retry, with Stripe's semantics.

- The first request with a key runs; its response (2xx or 4xx) is stored with the key.
- The same key with the same body (and method and path) gets that stored response again,
  marked ``Idempotent-Replayed: true``, and nothing runs.
- The same key with another body: 422 ``idempotency_key_reused``.
- While the first request still runs, a second one with the key: 409 ``idempotency_key_in_flight``.
- A 5xx or an unexpected error releases the key, so the client's retry runs again.
- Keys are kept ``IDEMPOTENCY_KEY_TTL`` (24 h by default) and purged afterwards.

The claim is an INSERT committed before the work starts (views run in autocommit), so on
PostgreSQL a concurrent request with the same key meets the unique constraint at once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from config.problems import PROBLEM_CONTENT_TYPE
from config.times import ContractJSONEncoder

from .api.permissions import request_owner
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# Visible ASCII, spaces inside but not at either end (HTTP servers trim them off anyway).
KEY_PATTERN = rf"^[!-~]([ -~]{{0,{MAX_KEY_LENGTH - 2}}}[!-~])?$"
DEFAULT_TTL = timedelta(hours=24)
# An in-flight claim older than this belongs to a request that died; it may be taken over.
DEFAULT_STALE_CLAIM = timedelta(minutes=5)


class InvalidIdempotencyKey(exceptions.APIException):
    status_code = 400
    default_code = "invalid_idempotency_key"
    default_detail = (
        f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (spaces inside)."
    )


class IdempotencyKeyReused(exceptions.APIException):
    status_code = 422
    default_code = "idempotency_key_reused"
    default_detail = f"This {HEADER} was used with a different request."


class IdempotencyKeyInFlight(exceptions.APIException):
    status_code = 409
    default_code = "idempotency_key_in_flight"
    default_detail = f"A request with this {HEADER} is still being processed; retry later."


def key_ttl() -> timedelta:
    return cast(timedelta, getattr(settings, "IDEMPOTENCY_KEY_TTL", DEFAULT_TTL))


def request_fingerprint(method: str, path: str, data: Any) -> str:
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def idempotency_claim(
    *, owner: str, key: str, method: str, path: str, fingerprint: str
) -> tuple[IdempotencyKey, bool]:
    """``(row, replay)``: a fresh claim to run the request, or the completed first attempt."""
    for _ in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    owner=owner,
                    key=key,
                    method=method,
                    path=path,
                    request_hash=fingerprint,
                    created_at=now,
                )
            return row, False
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(owner=owner, key=key).first()
        if existing is None:
            continue
        expired = existing.created_at < now - key_ttl()
        abandoned = existing.response_status is None and existing.created_at < now - getattr(
            settings, "IDEMPOTENCY_STALE_CLAIM", DEFAULT_STALE_CLAIM
        )
        if expired or abandoned:
            IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if existing.response_status is None:
            raise IdempotencyKeyInFlight()
        return existing, True
    raise IdempotencyKeyInFlight()


def idempotency_complete(*, row: IdempotencyKey, status: int, body: Any) -> None:
    # The body as the client got it (times as config.times writes them), so a replay matches.
    stored = json.loads(json.dumps(body, cls=ContractJSONEncoder))
    IdempotencyKey.objects.filter(pk=row.pk).update(
        response_status=status, response_body=stored, completed_at=timezone.now()
    )


def idempotency_release(*, row: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=row.pk, response_status__isnull=True).delete()


def idempotency_keys_purge(*, now: Any = None) -> int:
    """Delete keys past their time to live; returns how many."""
    cutoff = (now or timezone.now()) - key_ttl()
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def _replay(row: IdempotencyKey) -> Response:
    status = row.response_status or 200
    response = Response(
        row.response_body,
        status=status,
        content_type=PROBLEM_CONTENT_TYPE if status >= 400 else None,
    )
    response["Idempotent-Replayed"] = "true"
    return response


Handler = TypeVar("Handler", bound=Callable[..., Response])


def idempotent(handler: Handler) -> Handler:
    """Wrap a DRF view method (after authentication) so that ``Idempotency-Key`` applies."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw = request.headers.get(HEADER)
        if raw is None:
            return handler(view, request, *args, **kwargs)
        key = raw.strip()
        if not re.fullmatch(KEY_PATTERN, key):
            raise InvalidIdempotencyKey()
        method = request.method or "POST"
        row, replay = idempotency_claim(
            owner=request_owner(request),
            key=key,
            method=method,
            path=request.path,
            fingerprint=request_fingerprint(method, request.path, request.data),
        )
        if replay:
            return _replay(row)
        try:
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                response = view.handle_exception(exc)
        except BaseException:
            idempotency_release(row=row)
            raise
        if response.status_code >= 500 or response.status_code == 429:
            idempotency_release(row=row)
        else:
            idempotency_complete(row=row, status=response.status_code, body=response.data)
        return response

    return cast(Handler, wrapper)
