"""The transition table on its own, without a database."""

import pytest

from cases.choices import CaseState
from cases.errors import TransitionNotAllowed
from cases.workflow import ACTIONS, TABLE, allowed_actions, check_transition, transition_for
from core.errors import Forbidden

EXPECTED = {
    ("flagged", "suspend"): ("suspended", "analyst"),
    ("flagged", "dismiss"): ("dismissed", "analyst"),
    ("suspended", "investigate"): ("investigated", "investigator"),
    ("investigated", "remediate"): ("remediated", "investigator"),
    ("investigated", "terminate"): ("terminated", "lead"),
    ("investigated", "dismiss"): ("dismissed", "investigator"),
}


def test_table_matches_the_workflow_contract_exactly() -> None:
    found = {
        (state, action): (t.target.value, t.min_role.value)
        for state, actions in TABLE.items()
        for action, t in actions.items()
    }
    assert found == EXPECTED


@pytest.mark.parametrize("state", list(CaseState))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_pair_is_either_in_the_table_or_refused(state: str, action: str) -> None:
    if (state, action) in EXPECTED:
        assert transition_for(state, action).target == EXPECTED[(state, action)][0]
    else:
        with pytest.raises(TransitionNotAllowed):
            transition_for(state, action)


def test_unknown_action_is_refused() -> None:
    with pytest.raises(TransitionNotAllowed):
        transition_for("flagged", "delete")


def test_auditor_may_take_no_action_from_any_state() -> None:
    for state in CaseState:
        assert allowed_actions(state, "auditor") == []
        for action in TABLE[state]:
            with pytest.raises(Forbidden):
                check_transition(state, action, "auditor")


def test_dismiss_from_investigated_needs_an_investigator() -> None:
    assert allowed_actions("investigated", "analyst") == []
    assert allowed_actions("investigated", "investigator") == ["remediate", "dismiss"]
    assert allowed_actions("investigated", "lead") == ["remediate", "terminate", "dismiss"]
