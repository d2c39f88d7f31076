"""Build cases in any state through the services, so each has its true timeline."""

from __future__ import annotations

from accounts.models import Account
from cases.actions import Command, Dismiss, Investigate, Remediate, Suspend, Terminate
from cases.models import Case
from cases.services import case_open, case_transition
from core.actors import Actor

VALID_INPUT: dict[str, Command] = {
    "suspend": Suspend(reason="Burst of rate-limit evasion", policies=["rate-limit-evasion"]),
    "investigate": Investigate(
        findings="Outputs used to train a rival model", violation_confirmed=True
    ),
    "remediate": Remediate(verification_note="Checked the deletion certificate"),
    "terminate": Terminate(rationale="Repeated, deliberate breach"),
    "dismiss": Dismiss(reason="False positive"),
}

# The shortest path of actions from a new case to each state.
PATHS: dict[str, list[str]] = {
    "flagged": [],
    "suspended": ["suspend"],
    "investigated": ["suspend", "investigate"],
    "remediated": ["suspend", "investigate", "remediate"],
    "terminated": ["suspend", "investigate", "terminate"],
    "dismissed": ["dismiss"],
}


def case_in_state(account: Account, state: str, *, priority: str = "high") -> Case:
    actor = Actor.system("test setup")
    case = case_open(account=account, summary="Suspicious traffic", actor=actor, priority=priority)
    for action in PATHS[state]:
        case = case_transition(case=case, command=VALID_INPUT[action], actor=actor)
    assert case.state == state
    return case
