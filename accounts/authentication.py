"""Bearer keys for API clients: ``tsk_<prefix>_<secret>``.

Only a SHA-256 hash of the whole key is stored. The prefix finds the row in one indexed read
(``ApiClient.key_prefix`` is unique) and the hash is compared in constant time. A revoked key
fails on its next request: revocation is a column the lookup filters on, and the shared cache,
when there is one, is invalidated on commit of the revocation.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .cache import api_key_key, cache_enabled, cache_fill, cache_get
from .models import ApiClient

KEY_SCHEME = "tsk"
PREFIX_BYTES = 6  # 12 hex characters


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_generate() -> tuple[str, str, str]:
    """A new key: ``(key, prefix, hash)``. The key itself is shown once and never stored."""
    prefix = secrets.token_hex(PREFIX_BYTES)
    key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, key_hash(key)


def key_prefix(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or len(parts[1]) != PREFIX_BYTES * 2:
        return None
    return parts[1]


def bearer_token(request: HttpRequest) -> str | None:
    """The bearer token in ``Authorization``, ``""`` for a malformed header, ``None`` if absent."""
    return bearer_from_header(request.META.get("HTTP_AUTHORIZATION"))


def bearer_from_header(header: str | None) -> str | None:
    """The bearer token of an ``Authorization`` header's value (see :func:`bearer_token`)."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def client_for_key(key: str) -> ApiClient | None:
    """The active client holding ``key``: one query, or none on a cache hit."""
    prefix = key_prefix(key)
    if prefix is None:
        return None
    digest = key_hash(key)
    cached_value: Any = None
    if cache_enabled():
        usable, cached_value = cache_get(api_key_key(prefix))
        if usable:
            if not hmac.compare_digest(cached_value["hash"], digest):
                return None
            return ApiClient(
                pk=cached_value["id"],
                name=cached_value["name"],
                key_prefix=prefix,
                key_hash=cached_value["hash"],
                scopes=cached_value["scopes"],
                role=cached_value["role"],
                staff_tool=bool(cached_value.get("staff_tool", False)),
                partner_id=cached_value.get("partner"),
            )
    client = (
        ApiClient.objects.filter(key_prefix=prefix, revoked_at__isnull=True)
        .only(
            "id",
            "name",
            "key_prefix",
            "key_hash",
            "scopes",
            "role",
            "staff_tool",
            "partner",
            "revoked_at",
        )
        .first()
    )
    if client is None or not hmac.compare_digest(client.key_hash, digest):
        return None
    if cache_enabled():
        cache_fill(
            api_key_key(prefix),
            cached_value,
            {
                "id": client.pk,
                "name": client.name,
                "hash": client.key_hash,
                "scopes": list(client.scopes or []),
                "role": client.role,
                "staff_tool": client.staff_tool,
                "partner": client.partner_id,
            },
        )
    return client


@dataclass
class ClientPrincipal:
    """``request.user`` for a request made with an API key (not a Django user)."""

    client: ApiClient
    is_authenticated: bool = True
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pk(self) -> None:
        return None

    def get_username(self) -> str:
        return f"api:{self.client.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <key>``; a present but wrong or revoked key is a 401."""

    def authenticate(self, request: Request) -> tuple[ClientPrincipal, ApiClient] | None:
        token = bearer_token(request._request)
        if token is None:
            return None
        client = client_for_key(token) if token else None
        if client is None:
            raise exceptions.AuthenticationFailed("The API key is not valid or was revoked.")
        return ClientPrincipal(client), client

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
