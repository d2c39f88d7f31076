"""Every operation: 401 without a key, 403 with a key lacking its scope, allowed with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Account
from cases.models import Case
from cases.services import case_open
from core.actors import Actor

from .conftest import ApiCaller, problem, signal

# (method, path, scope, body)
OPERATIONS: list[tuple[str, str, str, Any]] = [
    ("get", "/accounts", "accounts:read", None),
    ("get", "/accounts/acme-ai", "accounts:read", None),
    ("put", "/accounts/acme-ai", "accounts:write", {"name": "Acme"}),
    ("get", "/partners", "accounts:read", None),
    ("get", "/partners/cloudco", "accounts:read", None),
    ("put", "/partners/cloudco", "accounts:write", {"name": "CloudCo"}),
    ("post", "/signals", "signals:write", {"signals": [signal(1)]}),
    ("get", "/cases", "cases:read", None),
    ("post", "/cases", "cases:write", {"account": "globex", "summary": "Report"}),
    ("get", "/cases/{case}", "cases:read", None),
    ("post", "/cases/{case}/transitions", "cases:write", {"action": "dismiss", "reason": "no"}),
    ("get", "/cases/{case}/events", "cases:read", None),
    ("get", "/enforcement/acme-ai", "enforcement:read", None),
    ("post", "/enforcement/check", "enforcement:read", {"accounts": ["acme-ai"]}),
    ("get", "/enforcement/changes", "enforcement:read", None),
]
IDS = [f"{m.upper()} {p}" for m, p, _, _ in OPERATIONS]


@pytest.fixture
def case(account: Account) -> Case:
    Account.objects.create(external_id="globex")
    return case_open(account=account, summary="x", actor=Actor.system())


def call(caller: ApiCaller, method: str, path: str, body: Any, case: Case) -> Any:
    path = path.format(case=case.pk)
    if method == "get":
        return caller.get(path)
    return getattr(caller, method)(path, body)


@pytest.mark.parametrize(("method", "path", "scope", "body"), OPERATIONS, ids=IDS)
def test_without_a_key_is_401(
    anonymous: ApiCaller, case: Case, method: str, path: str, scope: str, body: Any
) -> None:
    response = call(anonymous, method, path, body, case)
    problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "scope", "body"), OPERATIONS, ids=IDS)
def test_a_key_without_the_scope_is_403(
    make_caller: Callable[..., ApiCaller],
    case: Case,
    method: str,
    path: str,
    scope: str,
    body: Any,
) -> None:
    others = [
        s
        for s in ("enforcement:read", "signals:write", "accounts:read", "cases:read")
        if s != scope and s.split(":")[0] != scope.split(":")[0]
    ]
    body_403 = problem(call(make_caller(*others), method, path, body, case), 403, "forbidden")
    assert scope in body_403["detail"]


@pytest.mark.parametrize(("method", "path", "scope", "body"), OPERATIONS, ids=IDS)
def test_a_key_with_the_scope_is_served(
    make_caller: Callable[..., ApiCaller],
    case: Case,
    method: str,
    path: str,
    scope: str,
    body: Any,
) -> None:
    response = call(make_caller(scope, role="lead"), method, path, body, case)
    assert response.status_code in (200, 201, 202), response.content


@pytest.mark.parametrize(("method", "path", "scope", "body"), OPERATIONS, ids=IDS)
def test_auditor_reads_everything_and_writes_nothing(
    staff: Callable[[str], ApiCaller],
    case: Case,
    method: str,
    path: str,
    scope: str,
    body: Any,
) -> None:
    response = call(staff("auditor"), method, path, body, case)
    writes = scope.endswith(":write") and method != "get"
    if writes:
        problem(response, 403, "forbidden")
    else:
        assert response.status_code == 200, response.content
