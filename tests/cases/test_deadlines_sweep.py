"""The deadline sweep: one reminder, one escalation, repeated escalations; never twice."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from cases import deadlines as deadlines_module
from cases.actions import Dismiss
from cases.deadlines import deadlines_sweep, due_cases, escalation_kind
from cases.models import Case, Reminder
from cases.services import case_assign, case_priority_set, case_transition
from notifications.models import Notice
from notifications.services import notices_save
from tests.cases.deadline_helpers import T0, frozen, open_case
from tests.conftest import make_user

BEFORE = timedelta(hours=2)
REPEAT = timedelta(hours=12)


@pytest.fixture(autouse=True)
def _timing(settings: Any) -> None:
    settings.DEADLINE_REMINDER_BEFORE = BEFORE
    settings.DEADLINE_ESCALATION_REPEAT = REPEAT


def deadline_notices(event: str | None = None) -> list[Notice]:
    qs = Notice.objects.filter(event__startswith="deadline.")
    if event:
        qs = qs.filter(event=event)
    return list(qs.order_by("created_at", "recipient"))


def assigned_case(actors: dict[str, Any], users: dict[str, User], priority: str = "high") -> Case:
    with frozen(T0):
        case = open_case(actors["analyst"], priority=priority)
        return case_assign(case=case, assignee=users["analyst"], actor=actors["analyst"])


def test_sweeps_around_a_deadline_send_a_reminder_an_escalation_then_repeats(
    actors: dict[str, Any], users: dict[str, User], django_capture_on_commit_callbacks: Any
) -> None:
    case = assigned_case(actors, users)  # high: due 24 h after T0
    deadline = T0 + timedelta(hours=24)
    assert case.review_deadline == deadline
    assigned = Notice.objects.count()

    def sweep_at(at: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            result = deadlines_sweep(now=at)
        return result, callbacks

    result, callbacks = sweep_at(deadline - BEFORE - timedelta(minutes=1))
    assert (result.reminders, result.escalations, len(callbacks)) == (0, 0, 0)

    result, callbacks = sweep_at(deadline - timedelta(hours=1))
    assert (result.reminders, result.escalations, len(callbacks)) == (1, 0, 1)
    [reminder] = deadline_notices()
    assert reminder.event == "deadline.reminder"
    assert reminder.recipient == users["analyst"].email
    assert reminder.case_id == case.pk
    assert f"Case {case.pk}" in reminder.subject
    assert "acme" not in reminder.body_text  # another account's case is not mixed in
    assert case.account.external_id in reminder.body_text
    assert "<strong>" in reminder.body_html

    for again in (deadline - timedelta(hours=1), deadline - timedelta(minutes=1)):
        result, callbacks = sweep_at(again)
        assert (result.reminders, result.escalations, len(callbacks)) == (0, 0, 0)

    result, callbacks = sweep_at(deadline + timedelta(minutes=1))
    assert (result.reminders, result.escalations, len(callbacks)) == (0, 1, 1)
    escalations = deadline_notices("deadline.escalation")
    assert [n.recipient for n in escalations] == [users["lead"].email]
    assert "overdue" in escalations[0].body_text

    for again in (deadline + timedelta(minutes=1), deadline + REPEAT - timedelta(minutes=1)):
        result, callbacks = sweep_at(again)
        assert (result.reminders, result.escalations, len(callbacks)) == (0, 0, 0)

    result, callbacks = sweep_at(deadline + REPEAT + timedelta(minutes=1))
    assert (result.reminders, result.escalations, len(callbacks)) == (0, 1, 1)
    result, callbacks = sweep_at(deadline + REPEAT + timedelta(minutes=1))
    assert (result.reminders, result.escalations, len(callbacks)) == (0, 0, 0)

    kinds = list(
        Reminder.objects.filter(case=case).order_by("sent_at").values_list("kind", flat=True)
    )
    assert kinds == ["reminder", "escalation", "escalation-2"]
    assert [n.event for n in deadline_notices()] == [
        "deadline.reminder",
        "deadline.escalation",
        "deadline.escalation",
    ]
    assert Notice.objects.count() == assigned + 3


def test_an_unassigned_case_reminds_every_analyst_and_nobody_else(
    actors: dict[str, Any], users: dict[str, User]
) -> None:
    second = make_user("analyst", "analyst2")
    make_user("analyst", "no-mail").__class__.objects.filter(username="no-mail").update(email="")
    with frozen(T0):
        case = open_case(actors["analyst"], priority="critical")
    assert case.review_deadline is not None

    deadlines_sweep(now=case.review_deadline - timedelta(minutes=30))

    recipients = {n.recipient for n in deadline_notices("deadline.reminder")}
    assert recipients == {users["analyst"].email, second.email}


def test_an_escalation_goes_to_every_lead(actors: dict[str, Any], users: dict[str, User]) -> None:
    other_lead = make_user("lead", "lead2")
    case = assigned_case(actors, users)
    assert case.review_deadline is not None

    deadlines_sweep(now=case.review_deadline + timedelta(seconds=1))

    recipients = {n.recipient for n in deadline_notices("deadline.escalation")}
    assert recipients == {users["lead"].email, other_lead.email}
    assert Notice.objects.filter(event="deadline.reminder").exists() is False


def test_a_sweep_that_was_down_sends_only_the_current_escalation(
    actors: dict[str, Any], users: dict[str, User]
) -> None:
    case = assigned_case(actors, users)
    assert case.review_deadline is not None

    deadlines_sweep(now=case.review_deadline + 2 * REPEAT + timedelta(hours=1))

    assert list(Reminder.objects.values_list("kind", flat=True)) == ["escalation-3"]
    assert len(deadline_notices()) == 1


def test_a_moved_deadline_earns_fresh_reminders(
    actors: dict[str, Any], users: dict[str, User]
) -> None:
    case = assigned_case(actors, users, priority="medium")  # due T0 + 3 d
    first = case.review_deadline
    assert first is not None
    deadlines_sweep(now=first - timedelta(hours=1))
    assert Reminder.objects.filter(kind="reminder").count() == 1

    with frozen(first - timedelta(minutes=50)):
        case = case_priority_set(case=case, priority="low", actor=actors["lead"])  # T0 + 7 d
    second = case.review_deadline
    assert second is not None and second > first
    deadlines_sweep(now=first + timedelta(minutes=1))  # the old deadline no longer counts
    assert Reminder.objects.filter(kind="escalation").exists() is False

    deadlines_sweep(now=second - timedelta(hours=1))

    assert list(Reminder.objects.order_by("sent_at").values_list("deadline", "kind")) == [
        (first, "reminder"),
        (second, "reminder"),
    ]
    assert len(deadline_notices("deadline.reminder")) == 2


def test_a_closed_case_is_never_reminded(actors: dict[str, Any], users: dict[str, User]) -> None:
    with frozen(T0):
        case = open_case(actors["analyst"], priority="critical")
        case_transition(case=case, command=Dismiss(reason="Duplicate"), actor=actors["analyst"])

    deadlines_sweep(now=T0 + timedelta(days=30))

    assert Reminder.objects.exists() is False
    assert deadline_notices() == []


def test_escalations_are_numbered_by_intervals_since_the_deadline() -> None:
    kinds = [
        escalation_kind(deadline=T0, now=T0 + offset, repeat=REPEAT)
        for offset in (timedelta(0), REPEAT - timedelta(seconds=1), REPEAT, 5 * REPEAT)
    ]
    assert kinds == ["escalation", "escalation", "escalation-2", "escalation-6"]


def test_a_case_that_fails_does_not_hold_up_the_others_and_is_retried(
    actors: dict[str, Any], users: dict[str, User]
) -> None:
    with frozen(T0):
        broken = open_case(actors["analyst"], priority="high")
        fine = open_case(actors["analyst"], priority="high")
    at = T0 + timedelta(hours=23)
    real = deadlines_module._staff_notices

    def failing(case: Case, *args: Any) -> list[Notice]:
        if case.pk == broken.pk:
            raise RuntimeError("template broke")
        return real(case, *args)

    with mock.patch.object(deadlines_module, "_staff_notices", failing):
        result = deadlines_sweep(now=at)

    assert (result.reminders, result.failed) == (1, 1)
    assert set(Reminder.objects.values_list("case_id", flat=True)) == {fine.pk}

    result = deadlines_sweep(now=at)

    assert (result.reminders, result.failed) == (1, 0)
    assert Reminder.objects.filter(case=broken, kind="reminder").count() == 1


# --- cost ---------------------------------------------------------------------------------------


def make_not_due(n: int, start: int) -> None:
    """Open cases due far later, and closed cases whose deadline passed long ago."""
    accounts = Account.objects.bulk_create(
        Account(external_id=f"bulk-{start + i}", name=f"Bulk {i}") for i in range(n)
    )
    Case.objects.bulk_create(
        Case(
            account=a,
            summary="Not due",
            state="flagged" if i % 2 else "dismissed",
            priority="low",
            review_deadline=T0 + (timedelta(days=30) if i % 2 else -timedelta(days=30)),
        )
        for i, a in enumerate(accounts)
    )


def test_the_sweep_costs_the_same_whatever_the_number_of_cases_not_due(
    actors: dict[str, Any], users: dict[str, User]
) -> None:
    at = T0 + timedelta(hours=23)  # an hour before a high case opened at T0 is due
    make_not_due(5, 0)
    with frozen(T0):
        open_case(actors["analyst"], priority="high")
    with CaptureQueriesContext(connection) as few:
        assert deadlines_sweep(now=at).reminders == 1

    make_not_due(200, 1000)
    with frozen(T0):
        open_case(actors["analyst"], priority="high")
    with CaptureQueriesContext(connection) as many:
        assert deadlines_sweep(now=at).reminders == 1

    assert Case.objects.count() > 200
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_sweep_with_nothing_due_is_four_queries(db: Any) -> None:
    """One each for the due cases, the due appeals, the partners' follow-up and the legal
    holds to review."""
    make_not_due(50, 0)
    with CaptureQueriesContext(connection) as queries:
        deadlines_sweep(now=T0)
    assert len(queries.captured_queries) == 4


def test_postgres_reads_due_cases_through_the_partial_deadline_index(
    require_postgres: None, db: Any
) -> None:
    make_not_due(50, 0)
    sql, params = due_cases(now=T0, before=BEFORE).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "case_open_deadline_idx" in plan


# --- concurrency --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_send_each_reminder_once(require_postgres: None) -> None:
    analyst = make_user("analyst", "racer")
    lead = make_user("lead", "boss")
    from core.actors import Actor

    actor = Actor.for_user(analyst)
    with frozen(T0):
        cases = [open_case(actor, priority="high") for _ in range(20)]
    for case in cases[:10]:
        Case.objects.filter(pk=case.pk).update(review_deadline=T0 + timedelta(hours=1))
    first = T0 + timedelta(hours=2)  # ten overdue by an hour; ten due in 22 h
    second = T0 + timedelta(hours=23)  # ten overdue by 22 h (2nd escalation); ten due in 1 h

    save = notices_save
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(now: Any) -> None:
        try:
            barrier.wait(timeout=10)
            deadlines_sweep(now=now)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
        finally:
            connection.close()

    def slow_save(notices: list[Notice]) -> list[Notice]:
        # Hold the claimed reminder uncommitted for a moment, so the other sweep meets it.
        time.sleep(0.02)
        return save(notices)

    with mock.patch("notifications.services.notices_save", slow_save):
        for now in (first, second):
            threads = [threading.Thread(target=run, args=(now,)) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
            assert errors == []

    kinds = sorted(Reminder.objects.values_list("kind", flat=True))
    assert kinds == ["escalation"] * 10 + ["escalation-2"] * 10 + ["reminder"] * 10
    escalations = Notice.objects.filter(event="deadline.escalation")
    assert escalations.count() == 20
    assert set(escalations.values_list("recipient", flat=True)) == {lead.email}
    reminders = Notice.objects.filter(event="deadline.reminder")
    assert reminders.count() == 10
    assert set(reminders.values_list("recipient", flat=True)) == {analyst.email}
    assert set(reminders.values_list("case_id", flat=True)) == {c.pk for c in cases[10:]}


# --- the command --------------------------------------------------------------------------------


def test_the_command_sweeps_as_of_the_given_time(
    actors: dict[str, Any], users: dict[str, User], capsys: Any
) -> None:
    case = assigned_case(actors, users)
    assert case.review_deadline is not None
    at = (case.review_deadline + timedelta(minutes=5)).isoformat()

    call_command("sweep_deadlines", "--now", at)
    call_command("sweep_deadlines", "--now", at)

    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith(
        "0 reminder(s), 1 escalation(s), 0 plan reminder(s), "
        "0 partner reminder(s), 0 partner escalation(s), 1 notice(s)"
    )
    assert out[1].endswith(
        "0 reminder(s), 0 escalation(s), 0 plan reminder(s), "
        "0 partner reminder(s), 0 partner escalation(s), 0 notice(s)"
    )
    assert Reminder.objects.get().kind == "escalation"


@pytest.mark.parametrize("value", ["yesterday", "2026-11-25T10:00:00", "2026-13-45T10:00:00Z", ""])
def test_the_command_refuses_a_bad_time_with_one_line_and_a_failing_exit(
    value: str, db: Any, capsys: Any
) -> None:
    from cases.management.commands.sweep_deadlines import Command

    # run_from_argv is what manage.py calls; it closes connections, which the test still needs.
    with mock.patch.object(connections, "close_all"), pytest.raises(SystemExit) as exit_info:
        Command().run_from_argv(["manage.py", "sweep_deadlines", "--now", value])

    assert exit_info.value.code != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("CommandError:")
    assert Reminder.objects.exists() is False
