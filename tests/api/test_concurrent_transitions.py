"""Acceptance 5: 100 concurrent transition requests on one case over HTTP (PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection

from accounts.models import Account, Channel, Partner
from accounts.services import api_client_create
from cases.models import Case, CaseEvent, EnforcementChange
from cases.services import case_open
from core.actors import Actor
from tests.conftest import make_policy

from .conftest import API

REQUESTS = 100
# Each thread holds a database connection; PostgreSQL allows 100 in all, shared with others.
THREADS = 25


@pytest.mark.django_db(transaction=True)
def test_one_of_100_concurrent_suspensions_wins(
    require_postgres: None,
) -> None:
    from django.test import Client

    make_policy("competing-model-development")
    account = Account.objects.create(external_id="acme-ai", contacts=["legal@acme.test"])
    Channel.objects.create(
        account=account, partner=Partner.objects.create(code="cloudco", name="CloudCo")
    )
    case = case_open(account=account, summary="x", actor=Actor.system())
    _, key = api_client_create(name="tools", scopes=["cases:write"], role="analyst")
    body = {
        "action": "suspend",
        "expected_state": "flagged",
        "reason": "Distilling",
        "policies": ["competing-model-development"],
    }
    start = threading.Barrier(THREADS)

    def attempt(n: int) -> tuple[int, str]:
        try:
            if n < THREADS:
                start.wait(10)
            response = Client(raise_request_exception=False).post(
                f"{API}/cases/{case.pk}/transitions",
                body,
                content_type="application/json",
                headers={"Authorization": f"Bearer {key}"},
            )
            data: dict[str, Any] = response.json()
            return response.status_code, str(data.get("code", data.get("state")))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(attempt, range(REQUESTS)))

    statuses = Counter(status for status, _ in outcomes)
    assert statuses == {200: 1, 409: REQUESTS - 1}, outcomes
    assert {code for status, code in outcomes if status == 409} <= {
        "stale_state",
        "transition_not_allowed",
    }
    assert CaseEvent.objects.filter(case=case, action="suspend").count() == 1
    assert EnforcementChange.objects.filter(account=account).count() == 1
    assert Case.objects.get(pk=case.pk).state == "suspended"
