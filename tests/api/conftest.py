"""Callers of the API: clients with keys and scopes, and staff with their session."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.choices import PARTNER_SCOPES, Scope
from accounts.services import api_client_create

API = "/api/v1"
# Every scope a key not bound to a partner may hold.
ALL_SCOPES = tuple(s for s in Scope.values if s not in PARTNER_SCOPES)
_names = itertools.count(1)


class ApiCaller:
    """A test client that speaks JSON to ``/api/v1`` with a bearer key or a session."""

    def __init__(self, client: Client, key: str | None = None) -> None:
        self.client = client
        self.key = key
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def _h(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {**self.headers, **(headers or {})}

    def get(self, path: str, headers: dict[str, str] | None = None, **query: Any) -> Any:
        return self.client.get(API + path, query or None, headers=self._h(headers))

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.post(
            API + path, body, content_type="application/json", headers=self._h(headers)
        )

    def put(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        return self.client.put(
            API + path, body, content_type="application/json", headers=self._h(headers)
        )


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_caller(db: Any) -> Callable[..., ApiCaller]:
    def make(
        *scopes: str, role: str = "lead", name: str | None = None, partner: str | None = None
    ) -> ApiCaller:
        if partner is not None and not scopes:
            scopes = tuple(sorted(PARTNER_SCOPES))
        _, key = api_client_create(
            name=name or f"client-{next(_names)}",
            scopes=list(scopes or ALL_SCOPES),
            role=role,
            partner=partner,
        )
        return ApiCaller(Client(raise_request_exception=False), key)

    return make


@pytest.fixture
def api(make_caller: Callable[..., ApiCaller]) -> ApiCaller:
    """A client holding every scope, with the lead role for transitions."""
    return make_caller(*ALL_SCOPES, role="lead")


@pytest.fixture
def staff(users: dict[str, User]) -> Callable[[str], ApiCaller]:
    def login(role: str) -> ApiCaller:
        client = Client(raise_request_exception=False)
        client.force_login(users[role])
        return ApiCaller(client)

    return login


@pytest.fixture
def anonymous(db: Any) -> ApiCaller:
    return ApiCaller(Client(raise_request_exception=False))


def signal(n: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "account": "acme-ai",
        "kind": "rate_limit_exceeded",
        "severity": "medium",
        "occurred_at": "2026-11-25T10:00:00Z",
        "source": "ratelimiter",
        "dedupe_key": f"rl-{n}",
        "evidence": {"rpm": 9000 + n},
    }
    body.update(overrides)
    return body


def problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a problem-details answer and return its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    if code is not None:
        assert body["code"] == code, body
    return body
