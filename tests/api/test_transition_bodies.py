"""Each action's API body is its own serializer, and it ends in the action's input type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cases.actions import (
    COMMANDS,
    Evidence,
    Investigate,
    RemediationPlan,
    Suspend,
    input_names,
    required_inputs,
)
from cases.api.serializers import TRANSITION_BODIES, transition_body
from core.errors import InvalidInput, MissingInput


def test_one_body_per_input_type_with_the_same_fields_and_required_ones() -> None:
    assert {a: b.command for a, b in TRANSITION_BODIES.items()} == COMMANDS
    for action, body in TRANSITION_BODIES.items():
        fields = body().fields
        assert set(fields) == {"action", "expected_state", *input_names(body.command)}, action
        required = {name for name, f in fields.items() if f.required}
        assert required == {"action", *required_inputs(body.command)}, action


def test_a_body_becomes_its_input_type_and_the_expected_state() -> None:
    command, expected = transition_body(
        {
            "action": "investigate",
            "expected_state": "suspended",
            "findings": " Confirmed ",
            "violation_confirmed": True,
            "evidence": ["logs://1", {"reference": "s3://b/2", "description": "dump"}],
            "remediation": {"items": ["Delete it"], "deadline": "2030-01-01T00:00:00Z"},
        }
    )
    assert expected == "suspended"
    assert command == Investigate(
        findings="Confirmed",
        violation_confirmed=True,
        evidence=[
            Evidence(reference="logs://1"),
            Evidence(reference="s3://b/2", description="dump"),
        ],
        remediation=RemediationPlan(items=["Delete it"], deadline=datetime(2030, 1, 1, tzinfo=UTC)),
    )
    command, expected = transition_body(
        {"action": "suspend", "reason": "r", "policies": ["rate-limit-evasion"]}
    )
    assert (command, expected) == (Suspend(reason="r", policies=["rate-limit-evasion"]), None)


@pytest.mark.parametrize(
    ("body", "error", "what"),
    [
        (
            {"action": "suspend", "reason": " ", "policies": None},
            MissingInput,
            ["reason", "policies"],
        ),
        (
            {
                "action": "investigate",
                "findings": "f",
                "violation_confirmed": True,
                "remediation": {"items": ["x"]},
            },
            MissingInput,
            ["remediation.deadline"],
        ),
        (
            {
                "action": "investigate",
                "findings": "f",
                "violation_confirmed": False,
                "remediation": {"items": ["x"], "deadline_days": 3},
            },
            InvalidInput,
            "remediation",
        ),
    ],
)
def test_the_input_types_refusals_reach_the_api(body: Any, error: type, what: Any) -> None:
    with pytest.raises(error) as raised:
        transition_body(body)
    assert raised.value.fields.get("missing", raised.value.fields.get("field")) == what
