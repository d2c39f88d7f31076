"""Review deadlines by state and priority (workflow.md), and what moves them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cases.actions import Dismiss, Terminate
from cases.choices import EventAction
from cases.models import CaseEvent, Incident, RemediationPlan, ReviewDeadlineRule
from cases.services import case_priority_set, case_transition, incident_route, plan_deadline_set
from config.times import iso
from core.errors import Forbidden, InvalidInput
from tests.cases.deadline_helpers import T0, frozen, investigate, open_case, suspend

# The table of workflow.md, written out again so that the seeded rules are checked against it.
TABLE = {
    "flagged": {
        "critical": timedelta(hours=4),
        "high": timedelta(hours=24),
        "medium": timedelta(days=3),
        "low": timedelta(days=7),
    },
    "suspended": {
        "critical": timedelta(days=2),
        "high": timedelta(days=5),
        "medium": timedelta(days=10),
        "low": timedelta(days=14),
    },
}
PRIORITIES = ("critical", "high", "medium", "low")


@pytest.mark.parametrize("priority", PRIORITIES)
def test_each_state_gets_the_deadline_the_table_gives_its_priority(
    priority: str, actors: dict[str, Any], policies: Any
) -> None:
    with frozen(T0) as clock:
        case = open_case(actors["analyst"], priority=priority)
        assert case.review_deadline == T0 + TABLE["flagged"][priority]

        suspended_at = clock.tick(minutes=90)
        case = suspend(case, actors["analyst"])
        assert case.review_deadline == suspended_at + TABLE["suspended"][priority]

        investigated_at = clock.tick(days=1)
        case = investigate(case, actors["investigator"])
        assert case.review_deadline == investigated_at + timedelta(days=7)

        clock.tick(hours=1)
        case = case_transition(
            case=case, command=Terminate(rationale="Repeated after a warning"), actor=actors["lead"]
        )
        assert case.review_deadline is None


@pytest.mark.parametrize("priority", PRIORITIES)
def test_an_investigated_case_with_a_plan_is_due_when_the_plan_is(
    priority: str, actors: dict[str, Any], policies: Any
) -> None:
    with frozen(T0) as clock:
        case = suspend(open_case(actors["analyst"], priority=priority), actors["analyst"])
        investigated_at = clock.tick(hours=3)
        case = investigate(case, actors["investigator"], items=["Delete the data"], plan_days=21)

    plan = RemediationPlan.objects.get(case=case)
    assert plan.deadline == investigated_at + timedelta(days=21)
    assert case.review_deadline == plan.deadline


def test_a_dismissed_case_has_no_deadline(actors: dict[str, Any]) -> None:
    with frozen(T0):
        case = open_case(actors["analyst"], priority="high")
        case = case_transition(
            case=case, command=Dismiss(reason="False positive"), actor=actors["analyst"]
        )
    assert case.review_deadline is None


def test_the_seeded_rules_are_the_table_of_workflow_md(db: Any) -> None:
    seeded = {(r.state, r.priority): r.duration for r in ReviewDeadlineRule.objects.all()}
    for state, by_priority in TABLE.items():
        for priority, duration in by_priority.items():
            assert seeded[(state, priority)] == duration
    for priority in PRIORITIES:
        assert seeded[("investigated", priority)] == timedelta(days=7)


def test_a_rule_a_lead_edited_applies_to_the_next_case(actors: dict[str, Any]) -> None:
    ReviewDeadlineRule.objects.filter(state="flagged", priority="high").update(
        duration=timedelta(hours=8)
    )
    with frozen(T0):
        case = open_case(actors["analyst"], priority="high")
    assert case.review_deadline == T0 + timedelta(hours=8)


def test_changing_priority_moves_the_deadline_and_the_timeline_says_so(
    actors: dict[str, Any],
) -> None:
    with frozen(T0) as clock:
        case = open_case(actors["analyst"], priority="low")
        clock.tick(hours=1)
        case = case_priority_set(
            case=case, priority="critical", actor=actors["lead"], reason="Press report"
        )

    # Counted from when the case entered its state, not from the change.
    assert case.review_deadline == T0 + timedelta(hours=4)
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None
    assert event.action == EventAction.PRIORITY
    assert event.data["review_deadline"] == iso(T0 + timedelta(hours=4))
    assert event.data["from"] == "low"
    assert event.data["to"] == "critical"


def test_moving_the_plan_deadline_moves_the_case_deadline_and_the_timeline_says_so(
    actors: dict[str, Any], policies: Any
) -> None:
    with frozen(T0) as clock:
        case = suspend(open_case(actors["analyst"]), actors["analyst"])
        case = investigate(case, actors["investigator"], items=["Delete the data"], plan_days=14)
        old = case.review_deadline
        assert old is not None
        clock.tick(days=2)
        new = old + timedelta(days=7)
        plan = plan_deadline_set(
            case=case, deadline=new.isoformat(), actor=actors["investigator"], reason="Asked for"
        )

    case.refresh_from_db()
    assert plan.deadline == new
    assert case.review_deadline == new
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None
    assert event.action == EventAction.PLAN_DEADLINE
    assert event.reason == "Asked for"
    assert event.data == {
        "from": iso(old),
        "to": iso(new),
        "review_deadline": iso(new),
    }


def test_an_analyst_may_not_move_a_plan_deadline(actors: dict[str, Any], policies: Any) -> None:
    with frozen(T0):
        case = suspend(open_case(actors["analyst"]), actors["analyst"])
        case = investigate(case, actors["investigator"], items=["Delete the data"])
        events = CaseEvent.objects.filter(case=case).count()
        with pytest.raises(Forbidden):
            plan_deadline_set(case=case, deadline=T0 + timedelta(days=30), actor=actors["analyst"])
    assert CaseEvent.objects.filter(case=case).count() == events


@pytest.mark.parametrize("deadline", ["2026-11-24T10:00:00Z", "2026-12-24T10:00:00", "soon"])
def test_a_plan_deadline_must_be_a_future_time_with_a_zone(
    deadline: str, actors: dict[str, Any], policies: Any
) -> None:
    with frozen(T0):
        case = suspend(open_case(actors["analyst"]), actors["analyst"])
        case = investigate(case, actors["investigator"], items=["Delete the data"])
        before = case.review_deadline
        with pytest.raises(InvalidInput):
            plan_deadline_set(case=case, deadline=deadline, actor=actors["lead"])
    case.refresh_from_db()
    assert case.review_deadline == before


def test_a_case_without_a_plan_has_no_plan_deadline_to_move(
    actors: dict[str, Any], policies: Any
) -> None:
    with frozen(T0):
        case = suspend(open_case(actors["analyst"]), actors["analyst"])
        with pytest.raises(InvalidInput):
            plan_deadline_set(case=case, deadline=T0 + timedelta(days=30), actor=actors["lead"])


def test_a_worse_incident_raises_priority_and_the_timeline_gives_the_new_deadline(
    actors: dict[str, Any], account: Any
) -> None:
    with frozen(T0) as clock:
        case = open_case(actors["analyst"], priority="low", account=account)
        clock.tick(hours=1)
        incident = Incident.objects.create(
            account=account,
            kind="abuse_classifier",
            severity="critical",
            first_seen=clock.now,
            last_seen=clock.now,
        )
        attached = incident_route(incident=incident)

    assert attached.pk == case.pk
    assert attached.priority == "critical"
    assert attached.review_deadline == T0 + timedelta(hours=4)
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None
    assert event.action == EventAction.INCIDENT
    assert event.data["priority"] == {"from": "low", "to": "critical"}
    assert event.data["review_deadline"] == iso(T0 + timedelta(hours=4))
