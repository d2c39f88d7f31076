"""The transition table of the case workflow, as plain data.

No database access here: the table and its lookups can be read and tested on their own.
``cases.services`` applies them inside a transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Forbidden
from core.roles import Role, role_allows

from .choices import CaseState
from .errors import TransitionNotAllowed


@dataclass(frozen=True)
class Transition:
    action: str
    source: CaseState
    target: CaseState
    min_role: Role


ACTIONS = ("suspend", "investigate", "remediate", "terminate", "dismiss")

# What each action takes as input is its type in ``cases.actions``; the table says only where
# it goes and who may take it.
TRANSITIONS: tuple[Transition, ...] = (
    Transition("suspend", CaseState.FLAGGED, CaseState.SUSPENDED, Role.ANALYST),
    Transition("investigate", CaseState.SUSPENDED, CaseState.INVESTIGATED, Role.INVESTIGATOR),
    Transition("remediate", CaseState.INVESTIGATED, CaseState.REMEDIATED, Role.INVESTIGATOR),
    Transition("terminate", CaseState.INVESTIGATED, CaseState.TERMINATED, Role.LEAD),
    Transition("dismiss", CaseState.FLAGGED, CaseState.DISMISSED, Role.ANALYST),
    Transition("dismiss", CaseState.INVESTIGATED, CaseState.DISMISSED, Role.INVESTIGATOR),
)

# Actions a person or client proposes and a different lead approves (decisions.md, Four-eyes
# approval): ``cases.services.case_act`` turns them into approval requests.
FOUR_EYES_ACTIONS = ("terminate",)

# state -> {action: transition}
TABLE: dict[str, dict[str, Transition]] = {state: {} for state in CaseState}
for _t in TRANSITIONS:
    TABLE[_t.source][_t.action] = _t

# Actions outside the state machine and the least role that may take them.
OPEN_MIN_ROLE = Role.ANALYST
NOTE_MIN_ROLE = Role.ANALYST
# Anyone who may add notes corrects their own notes and evidence; a lead corrects anyone's.
CORRECT_OTHERS_MIN_ROLE = Role.LEAD
ASSIGN_SELF_MIN_ROLE = Role.ANALYST
REASSIGN_MIN_ROLE = Role.LEAD
PRIORITY_MIN_ROLE = Role.LEAD
PLAN_VERIFY_MIN_ROLE = Role.INVESTIGATOR
PLAN_DEADLINE_MIN_ROLE = Role.INVESTIGATOR
PLAN_OVERRIDE_MIN_ROLE = Role.LEAD


def transition_for(state: str, action: str) -> Transition:
    """The transition that ``action`` takes from ``state``; raises if there is none."""
    if action not in ACTIONS:
        raise TransitionNotAllowed(state=state, action=action, detail=f"Unknown action '{action}'.")
    transition = TABLE.get(state, {}).get(action)
    if transition is None:
        raise TransitionNotAllowed(state=state, action=action)
    return transition


def check_transition(state: str, action: str, role: str | None) -> Transition:
    """The transition, if ``role`` may take ``action`` from ``state``; else a typed error."""
    transition = transition_for(state, action)
    if not role_allows(role, transition.min_role):
        raise Forbidden(
            detail=f"Role '{role or 'none'}' may not {action} a {state} case; "
            f"it takes {transition.min_role} or above.",
        )
    return transition


def allowed_actions(state: str, role: str | None) -> list[str]:
    """The actions that ``role`` may take from ``state``, in table order."""
    return [a for a, t in TABLE.get(state, {}).items() if role_allows(role, t.min_role)]
