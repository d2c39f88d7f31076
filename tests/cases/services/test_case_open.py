from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from accounts.models import Account
from cases.errors import CaseAlreadyOpen
from cases.models import Case, CaseEvent, Incident
from cases.services import case_assign, case_open, case_priority_set
from core.actors import Actor
from core.errors import Forbidden, InvalidInput, MissingInput

from .helpers import case_in_state


@pytest.mark.django_db
def test_analyst_opens_a_flagged_case_from_a_report(
    account: Account, actors: dict[str, Actor]
) -> None:
    case = case_open(
        account=account,
        summary="Customer posts distillation scripts",
        actor=actors["analyst"],
        priority="high",
    )
    assert case.state == "flagged"
    assert case.review_deadline is not None
    incident = Incident.objects.get(case=case)
    assert (incident.kind, incident.reported_by) == ("report", "analyst")
    event = CaseEvent.objects.get(case=case)
    assert (event.action, event.to_state, event.actor_kind) == ("open", "flagged", "staff")


@pytest.mark.django_db
def test_auditor_cannot_open_a_case(account: Account, actors: dict[str, Actor]) -> None:
    with pytest.raises(Forbidden):
        case_open(account=account, summary="x", actor=actors["auditor"])
    assert Case.objects.exists() is False


@pytest.mark.django_db
def test_summary_is_required(account: Account, actors: dict[str, Actor]) -> None:
    with pytest.raises(MissingInput):
        case_open(account=account, summary="  ", actor=actors["analyst"])
    with pytest.raises(InvalidInput):
        case_open(account=account, summary="x", actor=actors["analyst"], priority="urgent")
    assert Case.objects.exists() is False


@pytest.mark.django_db
def test_second_open_case_for_an_account_is_refused(
    account: Account, actors: dict[str, Actor]
) -> None:
    first = case_open(account=account, summary="one", actor=actors["analyst"])
    with pytest.raises(CaseAlreadyOpen) as raised:
        case_open(account=account, summary="two", actor=actors["analyst"])
    assert raised.value.fields["case_id"] == first.pk
    assert Case.objects.filter(account=account).count() == 1


@pytest.mark.django_db
def test_a_closed_case_allows_a_new_one(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case_in_state(account, "dismissed")
    again = case_open(account=account, summary="again", actor=actors["analyst"])
    assert again.state == "flagged"


@pytest.mark.django_db
def test_priority_change_moves_the_deadline_and_is_on_the_timeline(
    account: Account, actors: dict[str, Actor]
) -> None:
    case = case_open(account=account, summary="x", actor=actors["analyst"], priority="low")
    with pytest.raises(Forbidden):
        case_priority_set(case=case, priority="critical", actor=actors["analyst"])
    moved = case_priority_set(case=case, priority="critical", actor=actors["lead"], reason="press")
    assert moved.review_deadline is not None and case.review_deadline is not None
    assert moved.review_deadline < case.review_deadline
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None and event.action == "priority"
    assert event.data["to"] == "critical"


@pytest.mark.django_db
def test_analyst_takes_a_free_case_but_only_a_lead_reassigns(
    account: Account, users: dict[str, User], actors: dict[str, Actor]
) -> None:
    case = case_open(account=account, summary="x", actor=actors["analyst"])
    taken = case_assign(case=case, assignee=users["analyst"], actor=actors["analyst"])
    assert taken.assignee == users["analyst"]
    with pytest.raises(Forbidden):
        case_assign(case=case, assignee=users["investigator"], actor=actors["investigator"])
    moved = case_assign(case=case, assignee=users["investigator"], actor=actors["lead"])
    assert moved.assignee == users["investigator"]
    with pytest.raises(InvalidInput):
        case_assign(case=case, assignee=users["auditor"], actor=actors["lead"])
    assert CaseEvent.objects.filter(case=case, action="assign").count() == 2
