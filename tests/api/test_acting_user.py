"""A staff tool names the person using it in ``Acting-User``; every other use is refused, and a
refused request writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from accounts.models import Account
from accounts.services import api_client_create
from cases.models import Case, CaseEvent, Signal
from cases.services import case_open
from core.actors import Actor
from notifications.models import Notice

from .conftest import ApiCaller, problem, signal

SUSPEND = {"action": "suspend", "reason": "Resold outputs", "policies": ["rate-limit-evasion"]}


@pytest.fixture
def tool(db: Any) -> Callable[..., ApiCaller]:
    def make(role: str = "lead", staff_tool: bool = True) -> ApiCaller:
        from django.test import Client

        _, key = api_client_create(
            name=f"tool-{role}-{staff_tool}",
            scopes=["cases:read", "cases:write", "signals:write"],
            role=role,
            staff_tool=staff_tool,
        )
        return ApiCaller(Client(raise_request_exception=False), key)

    return make


@pytest.fixture
def case(account: Any, users: dict[str, User], policies: Any) -> Case:
    return case_open(account=account, summary="Report", actor=Actor.for_user(users["lead"]))


def nothing_written(case: Case) -> None:
    assert Case.objects.get(pk=case.pk).state == "flagged"
    assert list(CaseEvent.objects.filter(case=case).values_list("action", flat=True)) == ["open"]
    assert Notice.objects.filter(case=case).exists() is False


def transition(caller: ApiCaller, case: Case, acting: str, body: Any = None) -> Any:
    return caller.post(
        f"/cases/{case.pk}/transitions", body or SUSPEND, headers={"Acting-User": acting}
    )


def test_a_key_that_is_not_a_staff_tool_may_not_name_a_person(
    tool: Callable[..., ApiCaller], case: Case
) -> None:
    answer = transition(tool(staff_tool=False), case, "analyst")
    problem(answer, 403, "acting_user_not_allowed")
    nothing_written(case)


def test_a_staff_session_may_not_name_another_person(
    staff: Callable[[str], ApiCaller], case: Case
) -> None:
    answer = transition(staff("lead"), case, "analyst")
    problem(answer, 403, "acting_user_not_allowed")
    nothing_written(case)


@pytest.mark.parametrize(
    ("acting", "status", "code"),
    [
        ("nobody-by-that-name", 403, "acting_user_refused"),
        ("gone", 403, "acting_user_refused"),  # deactivated
        ("outsider", 403, "acting_user_refused"),  # not staff
        ("norole", 403, "acting_user_refused"),  # staff without a workflow role
        ("auditor", 403, "acting_user_refused"),  # a role that may not write cases
        ("", 400, "invalid_acting_user"),
        ("x" * 151, 400, "invalid_acting_user"),
        ("ana\tlyst", 400, "invalid_acting_user"),
    ],
)
def test_the_named_person_must_be_active_staff_whose_role_allows_it(
    tool: Callable[..., ApiCaller],
    case: Case,
    users: dict[str, User],
    acting: str,
    status: int,
    code: str,
) -> None:
    User.objects.create_user("gone", is_staff=True, is_active=False).groups.set(
        users["analyst"].groups.all()
    )
    User.objects.create_user("outsider", is_staff=False).groups.set(users["analyst"].groups.all())
    User.objects.create_user("norole", is_staff=True)
    answer = transition(tool(), case, acting)
    problem(answer, status, code)
    nothing_written(case)


def test_the_weaker_of_the_tools_role_and_the_persons_decides(
    tool: Callable[..., ApiCaller], case: Case, users: dict[str, User]
) -> None:
    lead_tool = tool("lead")
    # An analyst through a lead's tool may suspend but not investigate (investigators and up).
    assert transition(lead_tool, case, "analyst").status_code == 200
    answer = transition(
        lead_tool,
        case,
        "analyst",
        {"action": "investigate", "findings": "x", "violation_confirmed": True},
    )
    problem(answer, 403, "forbidden")
    # A lead through an analyst's tool is an analyst.
    other = case_open(
        account=Account.objects.create(external_id="other-acct"),
        summary="Report",
        actor=Actor.for_user(users["lead"]),
    )
    analyst_tool = tool("analyst")
    as_lead = {"Acting-User": "lead"}
    assert analyst_tool.get(f"/cases/{other.pk}").json()["allowed_actions"] == [
        "suspend",
        "dismiss",
    ]
    assert lead_tool.get(f"/cases/{other.pk}", headers=as_lead).json()["allowed_actions"] == [
        "suspend",
        "dismiss",
    ]
    assert transition(analyst_tool, other, "lead").status_code == 200
    investigate = {"action": "investigate", "findings": "x", "violation_confirmed": True}
    problem(transition(analyst_tool, other, "lead", investigate), 403, "forbidden")
    problem(transition(analyst_tool, other, "investigator", investigate), 403, "forbidden")
    assert Case.objects.get(pk=other.pk).state == "suspended"
    event = CaseEvent.objects.get(case=other, action="suspend")
    assert (event.acted_by, event.actor_user) == ("person_via_tool", users["lead"])
    timeline = analyst_tool.get(f"/cases/{other.pk}/events").json()["results"]
    assert timeline[-1]["actor"] == {
        "kind": "api_client",
        "label": "lead via api:tool-analyst-True",
        "acted_by": "person_via_tool",
    }


def test_signals_named_to_a_person_without_the_role_are_refused_and_not_stored(
    tool: Callable[..., ApiCaller], users: dict[str, User]
) -> None:
    answer = tool().post("/signals", {"signals": [signal(1)]}, headers={"Acting-User": "auditor"})
    problem(answer, 403, "acting_user_refused")
    assert Signal.objects.exists() is False


def test_an_export_through_a_staff_tool_needs_the_persons_role_too(
    tool: Callable[..., ApiCaller], case: Case
) -> None:
    lead_tool = tool("lead")
    as_auditor = lead_tool.get(f"/cases/{case.pk}/export", headers={"Acting-User": "auditor"})
    assert as_auditor.status_code == 200
    answer = lead_tool.get(f"/cases/{case.pk}/export", headers={"Acting-User": "analyst"})
    problem(answer, 403, "forbidden")


def test_an_idempotency_key_belongs_to_the_person_using_the_tool(
    tool: Callable[..., ApiCaller], case: Case, users: dict[str, User]
) -> None:
    console = tool("lead")
    key = {"Idempotency-Key": "suspend-once"}
    first = console.post(
        f"/cases/{case.pk}/transitions", SUSPEND, headers={**key, "Acting-User": "analyst"}
    )
    assert first.status_code == 200
    replay = console.post(
        f"/cases/{case.pk}/transitions", SUSPEND, headers={**key, "Acting-User": "analyst"}
    )
    assert replay["Idempotent-Replayed"] == "true"
    other = console.post(
        f"/cases/{case.pk}/transitions", SUSPEND, headers={**key, "Acting-User": "lead"}
    )
    problem(other, 409, "transition_not_allowed")  # not a replay of the analyst's answer
    assert CaseEvent.objects.filter(case=case, action="suspend").count() == 1
