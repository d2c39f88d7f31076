"""Concurrent filings of appeals of one decision end in one appeal (PostgreSQL): the case's row
lock orders them and the partial unique index on open appeals holds even so."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client

from accounts.models import Account
from accounts.services import api_client_create
from cases.actions import Suspend
from cases.models import Appeal, CaseEvent, Decision
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.models import Notice
from tests.conftest import make_policy

from .conftest import API

THREADS = 10
POLICY = "competing-model-development"


def suspended() -> Decision:
    make_policy(POLICY)
    account = Account.objects.create(external_id="acme-ai", contacts=["legal@acme.test"])
    case = case_open(account=account, summary="x", actor=Actor.system())
    case_transition(case=case, command=Suspend(reason="r", policies=[POLICY]), actor=Actor.system())
    return Decision.objects.get(case=case, kind="suspend")


@pytest.mark.django_db(transaction=True)
def test_concurrent_filings_end_in_one_appeal(require_postgres: None) -> None:
    decision = suspended()
    _, key = api_client_create(name="portal", scopes=["appeals:write"])
    start = threading.Barrier(THREADS)

    def attempt(n: int) -> tuple[int, str]:
        try:
            start.wait(10)
            response = Client(raise_request_exception=False).post(
                f"{API}/decisions/{decision.reference}/appeals",
                {"reason": f"wrong {n}", "submitted_by": "cto@acme.test"},
                content_type="application/json",
                headers={"Authorization": f"Bearer {key}"},
            )
            data: dict[str, Any] = response.json()
            return response.status_code, str(data.get("code", data.get("state")))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(attempt, range(THREADS)))

    assert Counter(outcomes) == {(201, "received"): 1, (409, "appeal_already_open"): THREADS - 1}
    assert Appeal.objects.filter(decision=decision).count() == 1
    assert CaseEvent.objects.filter(case=decision.case, action="appeal_received").count() == 1
    assert Notice.objects.filter(event="appeal_received").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_index_refuses_a_second_open_appeal(require_postgres: None) -> None:
    """Without the lock (a writer that skipped the service), the database still refuses."""
    decision = suspended()
    first = Appeal.objects.get_or_create(
        decision=decision,
        case=decision.case,
        account=decision.account,
        reason="r",
        submitted_by="x",
        filed_by_kind="system",
        filed_by_acted_by="automation",
        filed_by_label="t",
        review_deadline=decision.decided_at,
    )[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        Appeal.objects.create(
            decision=decision,
            case=decision.case,
            account=decision.account,
            reason="again",
            submitted_by="x",
            filed_by_kind="system",
            filed_by_acted_by="automation",
            filed_by_label="t",
            review_deadline=decision.decided_at,
        )
    Appeal.objects.filter(pk=first.pk).update(state="withdrawn")
    Appeal.objects.create(
        decision=decision,
        case=decision.case,
        account=decision.account,
        reason="after the withdrawal",
        submitted_by="x",
        filed_by_kind="system",
        filed_by_acted_by="automation",
        filed_by_label="t",
        review_deadline=decision.decided_at,
    )
    assert Appeal.objects.filter(decision=decision).count() == 2
