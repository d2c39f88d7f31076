"""Each admin transition form ends in the action's input type, the one the API's body makes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cases.actions import (
    COMMANDS,
    Dismiss,
    Evidence,
    Investigate,
    Remediate,
    RemediationPlan,
    Suspend,
)
from cases.admin.case import ACTION_LABELS
from cases.admin.forms import TRANSITION_FORMS, BulkDismissForm, BulkSuspendForm
from tests.admin.conftest import POLICY


def test_one_form_and_one_label_per_input_type() -> None:
    assert {a: f.command for a, f in TRANSITION_FORMS.items()} == COMMANDS
    assert list(ACTION_LABELS) == list(COMMANDS)
    assert all(ACTION_LABELS.values())


def command(action: str, data: dict[str, Any], role: str = "lead") -> Any:
    form = TRANSITION_FORMS[action]({"expected_state": "x", **data}, role=role)
    assert form.is_valid(), form.errors
    return form.to_command()


@pytest.mark.django_db
def test_each_form_builds_its_input_type(policies: Any) -> None:
    assert command("suspend", {"reason": "r", "policies": [POLICY]}) == Suspend(
        reason="r", policies=[POLICY]
    )
    assert command(
        "investigate",
        {
            "findings": "f",
            "violation_confirmed": "yes",
            "evidence": "logs://1\n\n  ticket://2 \n",
            "plan_items": "Delete it\nRotate keys",
            "plan_deadline": "2030-01-01T09:30",
        },
    ) == Investigate(
        findings="f",
        violation_confirmed=True,
        evidence=[Evidence(reference="logs://1"), Evidence(reference="ticket://2")],
        remediation=RemediationPlan(
            items=["Delete it", "Rotate keys"], deadline=datetime(2030, 1, 1, 9, 30, tzinfo=UTC)
        ),
    )
    assert command("investigate", {"findings": "f", "violation_confirmed": "no"}) == Investigate(
        findings="f", violation_confirmed=False
    )
    assert command("remediate", {"verification_note": "n", "override_reason": "o"}) == Remediate(
        verification_note="n", override_reason="o"
    )
    # Only a lead is offered the override; anyone else's form drops it.
    assert command(
        "remediate", {"verification_note": "n", "override_reason": "o"}, role="investigator"
    ) == Remediate(verification_note="n")
    assert command("terminate", {"rationale": "t"}).rationale == "t"
    assert command("dismiss", {"reason": "d"}) == Dismiss(reason="d")


@pytest.mark.django_db
def test_the_bulk_forms_build_the_same_input_types(policies: Any) -> None:
    suspend = BulkSuspendForm({"reason": "r", "policies": [POLICY]})
    dismiss = BulkDismissForm({"reason": "d"})
    assert suspend.is_valid() and dismiss.is_valid()
    assert suspend.to_command() == Suspend(reason="r", policies=[POLICY])
    assert dismiss.to_command() == Dismiss(reason="d")
