"""The remediation plan gates `remediate`, reminds the account and escalates once overdue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cases.actions import Dismiss, Remediate
from cases.deadlines import deadlines_sweep, plan_reminders_send
from cases.errors import PlanClosed, PlanNotVerified
from cases.models import Case, CaseEvent, RemediationItem, RemediationPlan, Reminder
from cases.services import case_transition, plan_deadline_set, plan_item_verify
from core.errors import Forbidden
from notifications.models import Notice
from tests.cases.deadline_helpers import T0, frozen, investigate, open_case, suspend

ITEMS = ["Delete the collected outputs", "Remove the scraping job", "Name a compliance contact"]


@pytest.fixture
def planned(actors: dict[str, Any], account: Any, policies: Any) -> Case:
    """An investigated case of acme-ai with a three-item plan due in 14 days."""
    with frozen(T0):
        case = open_case(actors["analyst"], account=account)
        case = suspend(case, actors["analyst"])
        return investigate(case, actors["investigator"], items=ITEMS, plan_days=14)


def items_of(case: Case) -> list[RemediationItem]:
    return list(RemediationItem.objects.filter(plan__case=case).order_by("position"))


def test_remediate_is_refused_while_an_item_is_unverified_and_nothing_changes(
    planned: Case, actors: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with frozen(T0 + timedelta(days=1)):
        plan_item_verify(item=items_of(planned)[0], actor=actors["investigator"], note="Checked")
    events = CaseEvent.objects.filter(case=planned).count()
    notices = Notice.objects.count()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with pytest.raises(PlanNotVerified) as error:
            case_transition(
                case=planned,
                command=Remediate(verification_note="Looks fine"),
                actor=actors["investigator"],
            )

    assert error.value.code == "plan_not_verified"
    assert error.value.status == 409
    assert error.value.fields == {"unverified": 2}
    planned.refresh_from_db()
    assert planned.state == "investigated"
    assert planned.account.enforcement_status == "suspended"
    assert RemediationPlan.objects.get(case=planned).verified_at is None
    assert CaseEvent.objects.filter(case=planned).count() == events
    assert Notice.objects.count() == notices
    assert callbacks == []


def test_only_a_lead_may_override_an_unverified_plan(planned: Case, actors: dict[str, Any]) -> None:
    events = CaseEvent.objects.filter(case=planned).count()

    with pytest.raises(Forbidden):
        case_transition(
            case=planned,
            command=Remediate(verification_note="Looks fine", override_reason="Customer promised"),
            actor=actors["investigator"],
        )

    planned.refresh_from_db()
    assert planned.state == "investigated"
    assert CaseEvent.objects.filter(case=planned).count() == events


def test_a_lead_override_remediates_and_is_on_the_timeline(
    planned: Case, actors: dict[str, Any]
) -> None:
    with frozen(T0 + timedelta(days=2)):
        case = case_transition(
            case=planned,
            command=Remediate(
                verification_note="Data deletion confirmed by their auditor",
                override_reason="Contact will be named next week; access matters now",
            ),
            actor=actors["lead"],
        )

    assert case.state == "remediated"
    assert case.review_deadline is None
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None
    assert event.action == "remediate"
    assert event.actor_label == "lead"
    assert event.data["override_reason"] == "Contact will be named next week; access matters now"
    assert event.data["unverified_items"] == 3


def test_remediate_goes_through_once_every_item_is_verified(
    planned: Case, actors: dict[str, Any]
) -> None:
    with frozen(T0 + timedelta(days=3)):
        for item in items_of(planned):
            plan_item_verify(item=item, actor=actors["investigator"], note="Seen")
        case = case_transition(
            case=planned,
            command=Remediate(verification_note="All three changes verified"),
            actor=actors["investigator"],
        )

    assert case.state == "remediated"
    assert all(i.verified_by == "investigator" for i in items_of(planned))
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None
    assert "override_reason" not in event.data


# --- reminders to the account and escalation to the leads ---------------------------------------


@pytest.fixture
def plan_timing(settings: Any) -> None:
    settings.PLAN_REMINDER_BEFORE = timedelta(hours=72)
    settings.DEADLINE_REMINDER_BEFORE = timedelta(hours=2)
    settings.DEADLINE_ESCALATION_REPEAT = timedelta(hours=12)


def plan_reminders() -> list[Notice]:
    return list(Notice.objects.filter(event="plan_reminder").order_by("recipient"))


def test_the_account_is_reminded_once_before_the_plan_deadline(
    planned: Case, actors: dict[str, Any], plan_timing: None
) -> None:
    plan_item_verify(item=items_of(planned)[0], actor=actors["investigator"])
    deadline = RemediationPlan.objects.get(case=planned).deadline

    assert plan_reminders_send(now=deadline - timedelta(hours=73)) == 0
    assert plan_reminders_send(now=deadline - timedelta(hours=48)) == 1
    assert plan_reminders_send(now=deadline - timedelta(hours=47)) == 0

    notices = plan_reminders()
    assert [n.recipient for n in notices] == ["cto@acme.test", "legal@acme.test"]
    body = notices[0].body_text
    assert "Remove the scraping job" in body
    assert "Name a compliance contact" in body
    assert body.index("Still outstanding") < body.index("Remove the scraping job")
    assert body.index("Already verified") < body.index("Delete the collected outputs")
    assert notices[0].channel == "email"
    assert notices[0].payload["outstanding"] == ITEMS[1:]
    assert deadline.strftime("%Y-%m-%d") in notices[0].subject
    assert Reminder.objects.get().kind == "plan_reminder"


def test_no_plan_reminder_once_every_item_is_verified(
    planned: Case, actors: dict[str, Any], plan_timing: None
) -> None:
    for item in items_of(planned):
        plan_item_verify(item=item, actor=actors["investigator"])
    deadline = RemediationPlan.objects.get(case=planned).deadline

    assert plan_reminders_send(now=deadline - timedelta(hours=48)) == 0
    assert plan_reminders() == []


def test_an_extended_plan_deadline_earns_a_fresh_plan_reminder(
    planned: Case, actors: dict[str, Any], plan_timing: None
) -> None:
    deadline = RemediationPlan.objects.get(case=planned).deadline
    plan_reminders_send(now=deadline - timedelta(hours=48))
    with frozen(deadline - timedelta(hours=24)):
        plan_deadline_set(
            case=planned, deadline=deadline + timedelta(days=7), actor=actors["investigator"]
        )

    assert plan_reminders_send(now=deadline + timedelta(days=5)) == 1
    assert len(plan_reminders()) == 4  # two contacts, two deadlines


def test_past_the_plan_deadline_the_case_escalates_to_the_leads_for_a_decision(
    planned: Case, plan_timing: None, users: Any
) -> None:
    deadline = RemediationPlan.objects.get(case=planned).deadline

    assert plan_reminders_send(now=deadline + timedelta(minutes=5)) == 0
    result = deadlines_sweep(now=deadline + timedelta(minutes=5))

    assert result.escalations == 1
    [notice] = Notice.objects.filter(event="deadline.escalation")
    assert notice.recipient == users["lead"].email
    assert notice.payload["plan_overdue"] is True
    assert "remediation plan" in notice.subject
    assert "A decision is needed" in notice.body_text


def test_a_closed_cases_plan_neither_moves_nor_verifies(
    planned: Case, actors: dict[str, Any]
) -> None:
    plan = RemediationPlan.objects.get(case=planned)
    case_transition(case=planned, command=Dismiss(reason="Resolved"), actor=actors["lead"])

    with pytest.raises(PlanClosed):
        plan_deadline_set(
            case=planned, deadline=plan.deadline + timedelta(days=7), actor=actors["lead"]
        )
    with pytest.raises(PlanClosed):
        plan_item_verify(item=items_of(planned)[0], actor=actors["lead"])
    assert RemediationPlan.objects.get(case=planned).deadline == plan.deadline
    assert not RemediationItem.objects.filter(plan=plan, verified_at__isnull=False).exists()
