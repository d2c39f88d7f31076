"""The partners' follow-up in the deadline sweep (partners.md "Follow-up"): the report path,
a partner with no contact address, undeliverable propagations, each step once (also with two
sweeps at once), a constant number of queries, and one broken row not holding up the rest."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, Channel, Partner
from cases import partner_followup as followup_module
from cases.actions import Dismiss, Investigate, Suspend
from cases.deadlines import deadlines_sweep
from cases.partner_followup import FollowUpResult, due_propagations, partners_follow_up
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.admin.propagations import propagation_rows
from notifications.models import Notice, Propagation
from notifications.propagations import propagation_acknowledge, propagation_report
from tests.conftest import make_user

ACK, REPORT = timedelta(hours=24), timedelta(days=7)
FOLLOW_UP = ("partner.ack_reminder", "partner.report_reminder", "partner.overdue")


@pytest.fixture(autouse=True)
def _windows(settings: Any) -> None:
    settings.PARTNER_ACK_HOURS = ACK
    settings.PARTNER_REPORT_DAYS = REPORT


def suspended(n: int = 1, *, contact: str | None = None, code: str = "cloud") -> Propagation:
    """``n`` accounts suspended, each reaching the API through the partner ``code`` (which has
    no endpoint: its propagations are undeliverable); the last one's propagation."""
    partner, _ = Partner.objects.get_or_create(
        code=code,
        defaults={
            "name": code.title(),
            "contact_email": f"tns@{code}.test" if contact is None else contact,
        },
    )
    for _ in range(n):
        account = Account.objects.create(external_id=f"acct-{Account.objects.count() + 1}")
        Channel.objects.create(account=account, partner=partner)
        case = case_open(account=account, summary="Distillation", actor=Actor.system())
        case_transition(
            case=case,
            command=Suspend(reason="Outputs used", policies=["rate-limit-evasion"]),
            actor=Actor.system(),
        )
    return Propagation.objects.filter(partner=partner).latest("seq")


def follow_up(**filters: Any) -> list[Notice]:
    return list(Notice.objects.filter(event__in=FOLLOW_UP, **filters).order_by("event", "pk"))


def test_an_acknowledged_change_is_reminded_of_its_report_only(
    db: Any, policies: Any, users: Any
) -> None:
    propagation = suspended()
    propagation_acknowledge(partner=propagation.partner, seq=propagation.change.seq)
    made = propagation.created_at

    # No acknowledgement is owed: nothing after one or two ACK windows.
    result = deadlines_sweep(now=made + 2 * ACK + timedelta(minutes=1))
    assert (result.partner_reminders, result.partner_escalations) == (0, 0)
    assert follow_up() == []

    result = deadlines_sweep(now=made + REPORT)
    assert (result.partner_reminders, result.partner_escalations) == (1, 0)
    [reminder] = follow_up()
    assert (reminder.event, reminder.recipient) == ("partner.report_reminder", "tns@cloud.test")
    assert f"/api/v1/partner/changes/{propagation.change.seq}/report" in reminder.body_text
    assert "acknowledge it first" not in reminder.body_text  # it did

    result = deadlines_sweep(now=made + 2 * REPORT)
    assert (result.partner_reminders, result.partner_escalations) == (0, 1)
    [escalation] = follow_up(event="partner.overdue")
    assert escalation.recipient == users["lead"].email  # the case is unassigned
    assert "reported on" in escalation.subject
    propagation.refresh_from_db()
    assert (propagation.ack_reminded_at, propagation.ack_escalated_at) == (None, None)
    assert propagation.report_reminded_at == made + REPORT
    assert propagation.report_escalated_at == made + 2 * REPORT
    result = deadlines_sweep(now=made + 3 * REPORT)
    assert (result.partner_reminders, result.partner_escalations) == (0, 0)
    assert len(follow_up()) == 2


def test_a_reported_change_needs_nothing(db: Any, policies: Any, users: Any) -> None:
    propagation = suspended()
    propagation_report(
        partner=propagation.partner, seq=propagation.change.seq, outcome="declined", note="n/a"
    )
    deadlines_sweep(now=propagation.created_at + 3 * REPORT)
    assert follow_up() == []
    assert due_propagations(now=propagation.created_at + 3 * REPORT).exists() is False


def test_a_partner_without_a_contact_is_not_reminded_but_staff_are_told(
    db: Any, policies: Any, users: Any
) -> None:
    propagation = suspended(contact="")
    assert propagation.state == "undeliverable"  # no endpoint: followed up all the same
    made = propagation.created_at

    result = deadlines_sweep(now=made + ACK + timedelta(minutes=1))
    assert (result.partner_reminders, result.partner_escalations, result.notices) == (0, 0, 0)
    result = deadlines_sweep(now=made + 2 * ACK + timedelta(minutes=1))
    assert (result.partner_reminders, result.partner_escalations) == (0, 1)
    [escalation] = follow_up()
    assert (escalation.event, escalation.recipient) == ("partner.overdue", users["lead"].email)
    assert "no contact address, so no reminder was sent" in escalation.body_text
    assert "no active webhook endpoint" in escalation.body_text  # why it is undeliverable
    propagation.refresh_from_db()
    assert propagation.ack_reminded_at is None
    assert propagation.ack_escalated_at is not None
    assert deadlines_sweep(now=made + 3 * ACK).partner_escalations == 0


def test_a_sweep_that_was_down_sends_the_reminder_and_the_escalation_together(
    db: Any, policies: Any, users: Any
) -> None:
    propagation = suspended()
    at = propagation.created_at + 2 * ACK + timedelta(minutes=1)
    result = deadlines_sweep(now=at)
    assert (result.partner_reminders, result.partner_escalations) == (1, 1)
    [reminder, escalation] = follow_up()
    assert (reminder.event, escalation.event) == ("partner.ack_reminder", "partner.overdue")
    assert "tns@cloud.test was reminded" in escalation.body_text
    propagation.refresh_from_db()
    assert propagation.ack_reminded_at == propagation.ack_escalated_at == at
    result = deadlines_sweep(now=at)
    assert (result.partner_reminders, result.partner_escalations) == (0, 0)


def test_a_contact_set_later_is_reminded_then(db: Any, policies: Any, users: Any) -> None:
    propagation = suspended(contact="")
    made = propagation.created_at
    deadlines_sweep(now=made + 2 * ACK + timedelta(minutes=1))
    Partner.objects.filter(pk=propagation.partner_id).update(contact_email="late@cloud.test")
    result = deadlines_sweep(now=made + 2 * ACK + timedelta(minutes=2))
    assert (result.partner_reminders, result.partner_escalations) == (1, 0)
    assert [n.recipient for n in follow_up(event="partner.ack_reminder")] == ["late@cloud.test"]


def test_the_follow_up_reads_and_writes_in_a_constant_number_of_queries(
    db: Any, policies: Any, users: Any
) -> None:
    few = suspended(2, code="few")
    many = suspended(12, code="many")
    later = few.created_at + 10 * REPORT
    Propagation.objects.filter(partner=many.partner).update(created_at=later)  # not yet due
    at = few.created_at + 2 * ACK + timedelta(minutes=1)

    def sweep(now: Any) -> tuple[FollowUpResult, int]:
        with CaptureQueriesContext(connection) as queries:
            result = partners_follow_up(now=now)
        return result, len(queries.captured_queries)

    (small, small_queries) = sweep(at)
    assert (small.reminders, small.escalations) == (2, 2)
    Propagation.objects.filter(partner=many.partner).update(created_at=few.created_at)
    (large, large_queries) = sweep(at + timedelta(minutes=1))
    assert (large.reminders, large.escalations) == (12, 12)
    assert (small.notices, large.notices) == (4, 24)  # a reminder and a lead each
    assert large_queries == small_queries
    (nothing, nothing_queries) = sweep(at + timedelta(minutes=2))
    assert (nothing.notices, nothing_queries) == (0, 1)


def test_one_sweep_goes_through_every_batch(db: Any, policies: Any, users: Any) -> None:
    last = suspended(5)
    with mock.patch.object(followup_module, "PARTNER_BATCH", 2):
        result = deadlines_sweep(now=last.created_at + ACK + timedelta(minutes=1))
    assert result.partner_reminders == 5
    assert Propagation.objects.filter(ack_reminded_at__isnull=True).exists() is False


def test_a_row_that_cannot_be_rendered_does_not_hold_up_the_others(
    db: Any, policies: Any, users: Any
) -> None:
    broken = suspended(code="broken")
    fine = suspended(code="fine")
    real = followup_module.notice_render

    def render(notice: Notice) -> None:
        if notice.payload.get("partner") == "broken":
            raise ValueError("template error")
        real(notice)

    at = fine.created_at + ACK + timedelta(minutes=1)
    with mock.patch.object(followup_module, "notice_render", render):
        result = deadlines_sweep(now=at)
    assert (result.partner_reminders, result.failed) == (1, 1)
    assert [n.recipient for n in follow_up()] == ["tns@fine.test"]
    broken.refresh_from_db()
    assert broken.ack_reminded_at is None  # the next sweep tries it again
    assert deadlines_sweep(now=at).partner_reminders == 1


def test_postgres_reads_due_propagations_through_the_partial_open_index(
    require_postgres: None, db: Any
) -> None:
    sql, params = due_propagations(now=timezone.now()).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "propagation_open_idx" in plan


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_send_each_step_once(require_postgres: None) -> None:
    from tests.conftest import make_policy

    make_policy("rate-limit-evasion")
    lead = make_user("lead", "boss")
    last = suspended(6)
    at = last.created_at + 2 * ACK + timedelta(minutes=1)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            deadlines_sweep(now=at)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert Notice.objects.filter(event="partner.ack_reminder").count() == 6
    assert Notice.objects.filter(event="partner.overdue", recipient=lead.email).count() == 6


def test_a_change_superseded_by_a_later_one_is_not_chased(
    db: Any, policies: Any, users: Any
) -> None:
    # Given a suspension told to the partner, then the account reinstated (the case dismissed
    # after the investigation): the partner has been sent a later change of the same account.
    first = suspended()
    case = first.case
    assert case is not None
    case_transition(
        case=case,
        command=Investigate(findings="Traffic was a benchmark", violation_confirmed=False),
        actor=Actor.system(),
    )
    case.refresh_from_db()
    case_transition(case=case, command=Dismiss(reason="No breach"), actor=Actor.system())
    latest = Propagation.objects.filter(partner=first.partner).latest("seq")
    assert latest.pk != first.pk and latest.account_id == first.account_id

    # When both are overdue for everything
    result = deadlines_sweep(now=first.created_at + 3 * REPORT)

    # Then only the latest change is followed up: its acknowledgement and its report, each
    # reminded and escalated (the earlier change would have doubled both).
    first.refresh_from_db()
    assert (first.ack_reminded_at, first.ack_escalated_at) == (None, None)
    assert (first.report_reminded_at, first.report_escalated_at) == (None, None)
    latest.refresh_from_db()
    assert latest.ack_reminded_at is not None and latest.ack_escalated_at is not None
    assert (result.partner_reminders, result.partner_escalations) == (2, 2)
    assert all(f"/changes/{first.change.seq}/" not in n.body_text for n in follow_up())
    assert list(due_propagations(now=first.created_at + 3 * REPORT)) == []
    # and the admin says why the earlier one is not chased.
    rows = propagation_rows(Propagation.objects.filter(partner=first.partner), now=timezone.now())
    assert [bool(r.superseded) for r in rows] == [False, True]
    assert rows[1].overdue == []
