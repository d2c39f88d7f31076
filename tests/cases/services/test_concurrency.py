"""Locking and commit order on PostgreSQL: each thread has its own connection."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from accounts.models import Account
from cases.errors import CaseAlreadyOpen
from cases.models import Case, CaseEvent, EnforcementChange, Incident
from cases.services import case_open, case_transition, incident_route
from core.actors import Actor
from core.errors import Conflict

from .helpers import VALID_INPUT, case_in_state

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("require_postgres")]


def run_at_once(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in ``n`` threads released together; return results or exceptions."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def target(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.mark.django_db(transaction=True)
def test_fifty_identical_transitions_one_wins(account: Account, policies: Any) -> None:
    case = case_in_state(account, "flagged")
    actor = Actor.system("racer")

    results = run_at_once(
        50,
        lambda i: case_transition(
            case=case.pk,
            command=VALID_INPUT["suspend"],
            actor=actor,
            expected_state="flagged",
        ),
    )

    wins = [r for r in results if isinstance(r, Case)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1, results
    assert len(conflicts) == 49, [r for r in results if not isinstance(r, Case | Conflict)]
    assert CaseEvent.objects.filter(case=case, action="suspend").count() == 1
    assert EnforcementChange.objects.filter(account=account).count() == 1
    account.refresh_from_db()
    assert account.enforcement_status == "suspended"


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_opens_make_one_case(account: Account) -> None:
    actor = Actor.system("racer")
    results = run_at_once(
        20, lambda i: case_open(account=account, summary=f"report {i}", actor=actor)
    )
    assert sum(isinstance(r, Case) for r in results) == 1, results
    assert sum(isinstance(r, CaseAlreadyOpen) for r in results) == 19
    assert Case.objects.filter(account=account).count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_incidents_end_in_one_case(account: Account) -> None:
    from django.utils import timezone

    now = timezone.now()
    incidents = [
        Incident.objects.create(
            account=account,
            kind="rate_limit_exceeded",
            severity="medium",
            first_seen=now,
            last_seen=now,
            signal_count=1,
        )
        for _ in range(10)
    ]
    results = run_at_once(10, lambda i: incident_route(incident=incidents[i]))
    assert all(isinstance(r, Case) for r in results), results
    assert Case.objects.filter(account=account).count() == 1
    case = Case.objects.get(account=account)
    assert Incident.objects.filter(case=case).count() == 10


@pytest.mark.django_db(transaction=True)
def test_feed_reader_sees_every_change_once_in_order(policies: Any) -> None:
    """Writers on 20 accounts commit out of order; a reader following seq never skips one."""
    accounts = [Account.objects.create(external_id=f"acct-{i}") for i in range(20)]
    cases = [case_in_state(a, "flagged") for a in accounts]
    actor = Actor.system("writer")
    done = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        last = 0
        try:
            while True:
                finished = done.is_set()
                batch = list(
                    EnforcementChange.objects.filter(seq__gt=last)
                    .order_by("seq")
                    .values_list("seq", flat=True)[:100]
                )
                seen.extend(batch)
                if batch:
                    last = batch[-1]
                elif finished:
                    return
                time.sleep(0.001)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def writer(i: int) -> None:
        case = cases[i]
        for action in ("suspend", "investigate", "remediate"):
            with transaction.atomic():
                case = case_transition(case=case.pk, command=VALID_INPUT[action], actor=actor)
                # Hold the transaction open a random while so commits interleave.
                time.sleep(random.uniform(0, 0.02))

    thread = threading.Thread(target=reader)
    thread.start()
    results = run_at_once(20, writer)
    done.set()
    thread.join(timeout=60)

    assert not errors
    assert [r for r in results if r is not None] == []
    total = EnforcementChange.objects.count()
    assert total == 40  # a suspension and a reinstatement per account
    assert seen == list(range(1, total + 1))
