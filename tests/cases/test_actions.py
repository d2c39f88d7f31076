"""The input types of the workflow's actions, on their own: what building one checks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cases.actions import (
    COMMANDS,
    Dismiss,
    Evidence,
    Investigate,
    Remediate,
    RemediationPlan,
    RestrictionSpec,
    Suspend,
    Terminate,
    input_names,
    required_inputs,
)
from cases.workflow import ACTIONS
from core.errors import InvalidInput, MissingInput

LATER = datetime(2030, 1, 1, tzinfo=UTC)


def test_one_input_type_per_action_of_the_table() -> None:
    assert list(COMMANDS) == list(ACTIONS)
    assert [c.action for c in COMMANDS.values()] == list(ACTIONS)


def test_text_is_trimmed_codes_deduplicated_and_the_restriction_defaults() -> None:
    command = Suspend(reason="  Distilling \n", policies=["a", "b", "a"])
    assert command == Suspend(reason="Distilling", policies=("a", "b"))
    assert command.policies == ("a", "b")
    assert command.restriction == RestrictionSpec(kind="suspension")
    assert (command.duration, command.ends_at) == (None, None)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"kind": "rate_limit"}, "restriction.requests_per_minute"),
        ({"kind": "rate_limit", "requests_per_minute": 0}, "restriction.requests_per_minute"),
        ({"kind": "rate_limit", "requests_per_minute": True}, "restriction.requests_per_minute"),
        ({"kind": "model_block"}, "restriction.models"),
        ({"kind": "model_block", "models": [" "]}, "restriction.models"),
        ({"kind": "feature_block", "features": "batch"}, "restriction.features"),
        ({"kind": "suspension", "features": ["batch"]}, "restriction.features"),
        ({"kind": "suspension", "tokens_per_minute": 5}, "restriction.tokens_per_minute"),
        ({"kind": "forever"}, "restriction.kind"),
    ],
)
def test_a_restriction_names_exactly_what_its_kind_needs(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        RestrictionSpec(**spec)
    assert raised.value.fields["field"] == field


def test_a_block_keeps_each_name_once() -> None:
    spec = RestrictionSpec(kind="model_block", models=["gpt-x ", "gpt-x", "gpt-y"])
    assert spec.models == ("gpt-x", "gpt-y")


def test_suspend_cannot_terminate_and_takes_one_end() -> None:
    with pytest.raises(InvalidInput):
        Suspend(reason="r", policies=["a"], restriction=RestrictionSpec(kind="termination"))
    with pytest.raises(InvalidInput) as raised:
        Suspend(
            reason="r",
            policies=["a"],
            duration=timedelta(days=1),
            ends_at=datetime(2030, 1, 1, tzinfo=UTC),
        )
    assert raised.value.fields["field"] == "duration"
    for bad in (timedelta(0), timedelta(days=-1), timedelta(days=4000)):
        with pytest.raises(InvalidInput):
            Suspend(reason="r", policies=["a"], duration=bad)


def test_a_probation_is_partial_and_has_an_end() -> None:
    limit = RestrictionSpec(kind="rate_limit", requests_per_minute=100)
    assert Remediate(verification_note="ok", restriction=limit, duration=timedelta(days=30))
    with pytest.raises(MissingInput):
        Remediate(verification_note="ok", restriction=limit)
    with pytest.raises(InvalidInput):
        Remediate(
            verification_note="ok",
            restriction=RestrictionSpec(kind="suspension"),
            duration=timedelta(days=30),
        )
    with pytest.raises(InvalidInput):
        Remediate(verification_note="ok", duration=timedelta(days=30))


def test_every_blank_required_input_is_named_at_once() -> None:
    with pytest.raises(MissingInput) as raised:
        Suspend(reason=" \t", policies=[])
    assert raised.value.fields["missing"] == ["reason", "policies"]
    for command, name in (
        (Investigate(findings="f", violation_confirmed=False), "findings"),
        (Remediate(verification_note="n"), "verification_note"),
        (Terminate(rationale="r"), "rationale"),
        (Dismiss(reason="r"), "reason"),
    ):
        with pytest.raises(MissingInput) as raised:
            dataclasses.replace(command, **{name: ""})
        assert raised.value.fields["missing"] == [name]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Suspend(reason="x" * 20_001, policies=["a"]), "reason"),
        (lambda: Suspend(reason="r", policies="a"), "policies"),
        (lambda: Dismiss(reason=3), "reason"),
        (lambda: Investigate(findings="f", violation_confirmed="yes"), "violation_confirmed"),
        (lambda: Investigate(findings="f", violation_confirmed=True, evidence=["x"]), "evidence"),
        (lambda: Evidence(reference="  "), "evidence"),
        (
            lambda: Investigate(
                findings="f",
                violation_confirmed=False,
                remediation=RemediationPlan(items=["x"], deadline_days=3),
            ),
            "remediation",
        ),
        (lambda: RemediationPlan(items=[], deadline_days=3), "remediation.items"),
        (lambda: RemediationPlan(items=["x", " "], deadline_days=3), "remediation.items"),
        (
            lambda: RemediationPlan(items=["x"], deadline=datetime(2030, 1, 1)),
            "remediation.deadline",
        ),
        (lambda: RemediationPlan(items=["x"], deadline="2030-01-01"), "remediation.deadline"),
        (lambda: RemediationPlan(items=["x"], deadline_days=0), "remediation.deadline_days"),
        (lambda: RemediationPlan(items=["x"], deadline_days=366), "remediation.deadline_days"),
        (lambda: RemediationPlan(items=["x"], deadline_days=True), "remediation.deadline_days"),
    ],
)
def test_inputs_that_cannot_be_right_are_refused_when_built(build: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        build()
    assert raised.value.fields["field"] == field


def test_a_plan_needs_a_deadline_and_a_given_deadline_wins_over_days() -> None:
    with pytest.raises(MissingInput) as raised:
        RemediationPlan(items=["x"])
    assert raised.value.fields["missing"] == ["remediation.deadline"]
    plan = RemediationPlan(items=[" Delete it "], deadline=LATER, deadline_days=3)
    assert (plan.items, plan.deadline) == (("Delete it",), LATER)
    assert RemediationPlan(items=["x"], deadline=LATER + timedelta(hours=1)).deadline_days is None


def test_evidence_references_are_trimmed_and_kept_at_500_characters() -> None:
    assert Evidence(reference="  logs://q/1 ").reference == "logs://q/1"
    assert len(Evidence(reference="r" * 700).reference) == 500
    assert Evidence(reference="r", description=" as given ").description == " as given "


def test_inputs_are_values_that_cannot_change() -> None:
    command = Dismiss(reason="r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.reason = "other"  # type: ignore[misc]
    assert command == Dismiss(reason=" r ")
    assert hash(command) == hash(Dismiss(reason="r"))


def test_required_inputs_are_the_fields_without_a_default() -> None:
    assert required_inputs(Investigate) == ["findings", "violation_confirmed"]
    assert input_names(Investigate) == [
        "findings",
        "violation_confirmed",
        "evidence",
        "remediation",
    ]
    assert required_inputs(RemediationPlan) == ["items"]
