"""Restrictions that expire while other decisions are made, on PostgreSQL (one connection per
thread): the feed stays in commit order, the status ends right, each notice is sent once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account
from cases.actions import Investigate, Remediate, RestrictionSpec, Suspend
from cases.models import Case, Decision, EnforcementChange, Restriction
from cases.selectors import enforcement_get
from cases.services import case_open, case_transition, restrictions_expire
from core.actors import Actor
from notifications.models import Notice

from .test_concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("require_postgres")]

SUSPEND = Suspend(reason="Burst of requests", policies=["rate-limit-evasion"])


def _limited_case(account: Account, actor: Actor, minutes: int = 1) -> Case:
    """A case whose account is under a rate limit that ends in ``minutes``."""
    case = case_open(account=account, summary="Bursts", actor=actor)
    return case_transition(
        case=case,
        command=dataclasses.replace(
            SUSPEND,
            restriction=RestrictionSpec(kind="rate_limit", requests_per_minute=10),
            duration=timedelta(minutes=minutes),
        ),
        actor=actor,
    )


def _feed_is_consistent(account: Account) -> None:
    """Each change starts from the status the one before it left, in ``seq`` order, and the
    last one is what the account row says."""
    changes = list(EnforcementChange.objects.filter(account=account).order_by("seq"))
    previous = "active"
    for change in changes:
        assert change.previous_status == previous, [
            (c.seq, c.previous_status, c.status) for c in changes
        ]
        previous = change.status
    account.refresh_from_db()
    assert changes[-1].status == account.enforcement_status
    assert changes[-1].restrictions == account.enforcement_restrictions


@pytest.mark.django_db(transaction=True)
def test_the_expiry_job_run_at_once_records_each_end_once(account: Account, policies: Any) -> None:
    actor = Actor.system("tests")
    cases = []
    for i in range(5):
        other = Account.objects.create(external_id=f"limited-{i}", contacts=["ops@x.test"])
        cases.append(_limited_case(other, actor))
    later = timezone.now() + timedelta(minutes=2)

    results = run_at_once(4, lambda i: restrictions_expire(now=later))

    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 5
    for case in cases:
        assert Decision.objects.filter(case=case, kind="restriction_expired").count() == 1
        assert Notice.objects.filter(case=case, event="reinstatement").count() == 1
        assert not Restriction.objects.filter(case=case, ended_by__isnull=True).exists()
        _feed_is_consistent(case.account)


@pytest.mark.django_db(transaction=True)
def test_an_expiry_racing_a_new_suspension_leaves_the_feed_in_commit_order(
    policies: Any,
) -> None:
    actor = Actor.system("tests")
    for round_ in range(5):
        account = Account.objects.create(external_id=f"racer-{round_}", contacts=["ops@x.test"])
        first = _limited_case(account, actor)
        # The first case closes with the rate limit still in force; a second case opens.
        case_transition(
            case=first,
            command=Investigate(findings="Confirmed", violation_confirmed=True),
            actor=actor,
        )
        case_transition(
            case=first,
            command=Remediate(
                verification_note="Verified",
                restriction=RestrictionSpec(kind="rate_limit", requests_per_minute=50),
                duration=timedelta(minutes=1),
            ),
            actor=actor,
        )
        second = case_open(account=account, summary="Again", actor=actor)
        later = timezone.now() + timedelta(minutes=2)

        def work(i: int, second: Case = second, later: Any = later) -> Any:
            if i == 0:
                return restrictions_expire(now=later)
            return case_transition(case=second, command=SUSPEND, actor=actor)

        results = run_at_once(2, work)
        assert not [r for r in results if isinstance(r, Exception)], results
        _feed_is_consistent(account)
        seen = enforcement_get(external_id=account.external_id)
        assert seen is not None
        assert seen["status"] == "suspended"
        assert [r["kind"] for r in seen["restrictions"]] == ["suspension"]
