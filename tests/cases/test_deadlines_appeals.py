"""Appeals' review deadlines in the deadline sweep: a reminder before, escalations after, each
once however often the sweep runs, and none once the appeal is decided."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from cases.actions import AppealDecide, AppealFile, Investigate, Suspend, Terminate
from cases.deadlines import appeal_reminder_kind, deadlines_sweep, due_appeals
from cases.models import Appeal, Decision, Reminder
from cases.services import appeal_decide, appeal_file, appeal_review_start, case_transition
from core.actors import Actor
from notifications.models import Notice
from tests.cases.deadline_helpers import T0, frozen, open_case
from tests.conftest import make_user

BEFORE = timedelta(hours=2)
REPEAT = timedelta(hours=12)
POLICY = "competing-model-development"


@pytest.fixture(autouse=True)
def _timing(settings: Any) -> None:
    settings.DEADLINE_REMINDER_BEFORE = BEFORE
    settings.DEADLINE_ESCALATION_REPEAT = REPEAT
    settings.APPEAL_REVIEW_DAYS = 14


def appeal_notices(event: str | None = None) -> list[Notice]:
    qs = Notice.objects.filter(event__startswith="appeal.")
    if event:
        qs = qs.filter(event=event)
    return list(qs.order_by("created_at", "recipient"))


def filed_appeal(actors: dict[str, Actor]) -> Appeal:
    with frozen(T0):
        case = open_case(actors["analyst"])
        case_transition(
            case=case, command=Suspend(reason="r", policies=[POLICY]), actor=actors["lead"]
        )
        decision = Decision.objects.get(case=case, kind="suspend")
        return appeal_file(
            decision=decision,
            command=AppealFile(reason="Wrong", submitted_by="cto@x.test"),
            actor=Actor.system("portal"),
        )


def test_an_appeal_is_reminded_then_escalated_once_each(
    actors: dict[str, Actor], users: dict[str, User], policies: Any
) -> None:
    appeal = filed_appeal(actors)
    deadline = T0 + timedelta(days=14)
    assert appeal.review_deadline == deadline

    deadlines_sweep(now=deadline - BEFORE - timedelta(minutes=1))
    assert appeal_notices() == []

    # Before: nobody reviews it yet, so the investigators who may.
    deadlines_sweep(now=deadline - timedelta(hours=1))
    deadlines_sweep(now=deadline - timedelta(minutes=30))
    [reminder] = appeal_notices("appeal.reminder")
    assert reminder.recipient == users["investigator"].email
    assert (
        f"Appeal {appeal.pk}" in reminder.body_text
        and appeal.decision.reference in reminder.body_text
    )
    assert Reminder.objects.filter(kind=appeal_reminder_kind(appeal, "reminder")).count() == 1

    # After: the leads, once per interval.
    deadlines_sweep(now=deadline + timedelta(minutes=1))
    deadlines_sweep(now=deadline + timedelta(hours=1))
    [escalation] = appeal_notices("appeal.escalation")
    assert escalation.recipient == users["lead"].email
    assert "overdue" in escalation.body_text
    deadlines_sweep(now=deadline + REPEAT + timedelta(minutes=1))
    assert len(appeal_notices("appeal.escalation")) == 2
    assert "(still)" in appeal_notices("appeal.escalation")[-1].subject

    # Decided: nothing more.
    with frozen(deadline + REPEAT + timedelta(hours=1)):
        appeal_decide(
            appeal=appeal,
            command=AppealDecide(outcome="upheld", reason="Confirmed"),
            actor=actors["investigator"],
        )
    deadlines_sweep(now=deadline + 3 * REPEAT)
    assert len(appeal_notices()) == 3


def test_the_reviewer_is_reminded_and_a_terminations_appeal_goes_to_leads(
    actors: dict[str, Actor], users: dict[str, User], policies: Any
) -> None:
    appeal = filed_appeal(actors)
    with frozen(T0 + timedelta(days=1)):
        appeal_review_start(appeal=appeal, actor=actors["investigator"])
    deadlines_sweep(now=appeal.review_deadline - timedelta(hours=1))
    [reminder] = appeal_notices("appeal.reminder")
    assert reminder.recipient == users["investigator"].email
    assert "as its reviewer" in reminder.body_text


def test_a_terminations_appeal_without_reviewer_reminds_the_leads(
    actors: dict[str, Actor], users: dict[str, User], policies: Any
) -> None:
    make_user("investigator", "second-investigator")
    with frozen(T0):
        case = open_case(actors["analyst"])
        case_transition(
            case=case, command=Suspend(reason="r", policies=[POLICY]), actor=actors["lead"]
        )
        case_transition(
            case=case,
            command=Investigate(findings="f", violation_confirmed=True),
            actor=actors["investigator"],
        )
        case_transition(case=case, command=Terminate(rationale="t"), actor=actors["lead"])
        appeal = appeal_file(
            decision=Decision.objects.get(case=case, kind="terminate"),
            command=AppealFile(reason="Wrong", submitted_by="cto@x.test"),
            actor=Actor.system("portal"),
        )
    deadlines_sweep(now=appeal.review_deadline - timedelta(hours=1))
    assert [n.recipient for n in appeal_notices("appeal.reminder")] == [users["lead"].email]


def test_postgres_reads_due_appeals_through_the_partial_deadline_index(
    require_postgres: None, db: Any
) -> None:
    sql, params = due_appeals(now=T0, before=BEFORE).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "appeal_open_deadline_idx" in plan
