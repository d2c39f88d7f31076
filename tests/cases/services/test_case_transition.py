"""Every (state, action) pair, every role, every required input, through the service."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from accounts.models import Account
from cases.actions import COMMANDS, Suspend, required_inputs
from cases.choices import CaseState
from cases.errors import StaleState, TransitionNotAllowed
from cases.models import Case, CaseEvent, EnforcementChange, RemediationPlan
from cases.services import case_transition
from cases.workflow import ACTIONS, TABLE
from core.actors import Actor
from core.errors import Forbidden, InvalidInput, MissingInput
from core.roles import role_allows
from notifications.models import Notice

from .helpers import VALID_INPUT, case_in_state

# workflow.md: the account's enforcement while a case is in each state.
ENFORCEMENT = {
    "flagged": "active",
    "suspended": "suspended",
    "investigated": "suspended",
    "remediated": "active",
    "terminated": "terminated",
    "dismissed": "active",
}
EXPECTED_MOVES = {
    ("flagged", "suspend"): "suspended",
    ("flagged", "dismiss"): "dismissed",
    ("suspended", "investigate"): "investigated",
    ("investigated", "remediate"): "remediated",
    ("investigated", "terminate"): "terminated",
    ("investigated", "dismiss"): "dismissed",
}


def snapshot(case: Case) -> dict[str, Any]:
    case.refresh_from_db()
    case.account.refresh_from_db()
    return {
        "state": case.state,
        "updated_at": case.updated_at,
        "deadline": case.review_deadline,
        "events": CaseEvent.objects.filter(case=case).count(),
        "enforcement": case.account.enforcement_status,
        "since": case.account.enforcement_since,
        "changes": EnforcementChange.objects.count(),
        "notices": Notice.objects.count(),
        "plans": RemediationPlan.objects.count(),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("state", list(CaseState))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_state_and_action_moves_as_the_table_says_or_changes_nothing(
    state: str, action: str, account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, state)
    before = snapshot(case)
    lead = actors["lead"]

    if (state, action) in EXPECTED_MOVES:
        moved = case_transition(case=case, command=VALID_INPUT[action], actor=lead)
        after = snapshot(moved)
        target = EXPECTED_MOVES[(state, action)]
        assert after["state"] == target
        assert after["events"] == before["events"] + 1
        event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
        assert event is not None
        assert (event.action, event.from_state, event.to_state) == (action, state, target)
        assert event.actor_label == "lead"
        assert after["enforcement"] == ENFORCEMENT[target]
        status_changed = ENFORCEMENT[target] != ENFORCEMENT[state]
        assert after["changes"] == before["changes"] + (1 if status_changed else 0)
    else:
        with pytest.raises(TransitionNotAllowed):
            case_transition(case=case, command=VALID_INPUT[action], actor=lead)
        assert snapshot(case) == before


def allowed_pairs() -> list[tuple[str, str, str]]:
    return [(s, a, t.min_role) for s, actions in TABLE.items() for a, t in actions.items()]


@pytest.mark.django_db
@pytest.mark.parametrize(("state", "action", "min_role"), allowed_pairs())
@pytest.mark.parametrize("role", ["analyst", "investigator", "lead", "auditor"])
def test_each_role_may_take_exactly_the_actions_workflow_md_gives_it(
    state: str,
    action: str,
    min_role: str,
    role: str,
    account: Account,
    policies: Any,
    actors: dict[str, Actor],
) -> None:
    case = case_in_state(account, state)
    before = snapshot(case)
    if role_allows(role, min_role):
        moved = case_transition(case=case, command=VALID_INPUT[action], actor=actors[role])
        assert moved.state == EXPECTED_MOVES[(state, action)]
    else:
        with pytest.raises(Forbidden):
            case_transition(case=case, command=VALID_INPUT[action], actor=actors[role])
        assert snapshot(case) == before


ROLE_TABLE = {
    # workflow.md "Roles", spelled out per action and source state.
    ("flagged", "suspend"): {"analyst", "investigator", "lead"},
    ("flagged", "dismiss"): {"analyst", "investigator", "lead"},
    ("suspended", "investigate"): {"investigator", "lead"},
    ("investigated", "remediate"): {"investigator", "lead"},
    ("investigated", "terminate"): {"lead"},
    ("investigated", "dismiss"): {"investigator", "lead"},
}


def test_role_table_in_code_matches_workflow_md() -> None:
    roles = ("analyst", "investigator", "lead", "auditor")
    found = {
        (s, a): {r for r in roles if role_allows(r, min_role)} for s, a, min_role in allowed_pairs()
    }
    assert found == ROLE_TABLE


# workflow.md: what each action must be given.
REQUIRED = {
    "suspend": ["reason", "policies"],
    "investigate": ["findings", "violation_confirmed"],
    "remediate": ["verification_note"],
    "terminate": ["rationale"],
    "dismiss": ["reason"],
}


def test_each_action_has_one_input_type_whose_required_fields_are_workflow_mds() -> None:
    assert set(COMMANDS) == set(ACTIONS)
    assert {a: required_inputs(c) for a, c in COMMANDS.items()} == REQUIRED
    assert all(c.action == a for a, c in COMMANDS.items())


@pytest.mark.django_db
@pytest.mark.parametrize(("state", "action"), list(EXPECTED_MOVES))
def test_each_required_input_is_enforced(
    state: str, action: str, account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, state)
    before = snapshot(case)
    valid = VALID_INPUT[action]
    for name in REQUIRED[action]:
        given = {
            f.name: getattr(valid, f.name) for f in dataclasses.fields(valid) if f.name != name
        }
        with pytest.raises(TypeError, match=name):
            type(valid)(**given)
        blank: Any = {str: " \t", bool: None}.get(type(getattr(valid, name)), [])
        with pytest.raises((MissingInput, InvalidInput)) as raised:
            case_transition(
                case=case, command=dataclasses.replace(valid, **{name: blank}), actor=actors["lead"]
            )
        if isinstance(raised.value, MissingInput):
            assert raised.value.fields["missing"] == [name]
        else:
            assert raised.value.fields["field"] == name
    assert snapshot(case) == before


@pytest.mark.django_db
@pytest.mark.parametrize(("state", "action"), list(EXPECTED_MOVES))
def test_stale_expected_state_is_refused_with_no_side_effects(
    state: str,
    action: str,
    account: Account,
    policies: Any,
    actors: dict[str, Actor],
    django_capture_on_commit_callbacks: Any,
) -> None:
    case = case_in_state(account, state)
    stale = next(s for s in CaseState if s != state)
    before = snapshot(case)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(StaleState):
        case_transition(
            case=case,
            command=VALID_INPUT[action],
            actor=actors["lead"],
            expected_state=stale,
        )
    assert callbacks == []
    assert snapshot(case) == before


@pytest.mark.django_db
def test_case_changed_behind_the_services_back_is_stale(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    Case.objects.filter(pk=case.pk).update(state=CaseState.DISMISSED)
    with pytest.raises(StaleState):
        case_transition(
            case=case,
            command=VALID_INPUT["suspend"],
            actor=actors["analyst"],
            expected_state="flagged",
        )
    assert CaseEvent.objects.filter(case=case).count() == 1


@pytest.mark.django_db
def test_unknown_policy_code_is_refused_and_changes_nothing(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    before = snapshot(case)
    with pytest.raises(InvalidInput):
        case_transition(
            case=case,
            command=Suspend(reason="x", policies=["no-such-policy"]),
            actor=actors["analyst"],
        )
    assert snapshot(case) == before


@pytest.mark.django_db
def test_suspension_cites_the_policy_version_in_force(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    case_transition(case=case, command=VALID_INPUT["suspend"], actor=actors["analyst"])
    event = CaseEvent.objects.get(case=case, action="suspend")
    assert event.policy_versions == [{"code": "rate-limit-evasion", "version": 2}]
    change = EnforcementChange.objects.get(case=case)
    assert (change.previous_status, change.status) == ("active", "suspended")
    assert change.policies == event.policy_versions
