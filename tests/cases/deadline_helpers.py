"""Helpers for the deadline tests: a clock that tests move by hand, and cases in any state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from accounts.models import Account
from cases.actions import Investigate, RemediationPlan, Suspend
from cases.models import Case
from cases.services import case_open, case_transition
from core.actors import Actor

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


class Clock:
    """Stands in for ``django.utils.timezone.now``; tests set or move it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@contextmanager
def frozen(at: datetime = T0) -> Iterator[Clock]:
    clock = Clock(at)
    with mock.patch("django.utils.timezone.now", clock):
        yield clock


def new_account(external_id: str) -> Account:
    return Account.objects.create(
        external_id=external_id, name=external_id.title(), contacts=[f"ops@{external_id}.test"]
    )


def open_case(
    actor: Actor, *, priority: str = "medium", account: Account | None = None, **kwargs: Any
) -> Case:
    account = account or new_account(f"acct-{Account.objects.count() + 1}")
    return case_open(
        account=account,
        summary="Scraping outputs to train a model",
        actor=actor,
        priority=priority,
        **kwargs,
    )


def suspend(case: Case, actor: Actor) -> Case:
    return case_transition(
        case=case,
        command=Suspend(
            reason="Training a competing model", policies=["competing-model-development"]
        ),
        actor=actor,
    )


def investigate(
    case: Case, actor: Actor, *, items: list[str] | None = None, plan_days: int | None = None
) -> Case:
    plan = (
        RemediationPlan(items=items, deadline_days=plan_days or 14) if items is not None else None
    )
    command = Investigate(
        findings="Outputs used as training data", violation_confirmed=True, remediation=plan
    )
    return case_transition(case=case, command=command, actor=actor)
