"""Verifying remediation items over the API, and the case export for auditors and leads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Account
from cases.actions import Investigate, RemediationPlan, Suspend
from cases.models import CaseEvent, RemediationItem
from cases.services import case_open, case_transition
from core.actors import Actor

from .conftest import ApiCaller, problem


@pytest.fixture
def planned(account: Account, policies: Any) -> Any:
    actor = Actor.system("setup")
    case = case_open(account=account, summary="Distillation", actor=actor, priority="high")
    case_transition(
        case=case,
        command=Suspend(reason="r", policies=["competing-model-development"]),
        actor=actor,
    )
    return case_transition(
        case=case,
        command=Investigate(
            findings="Outputs used for training",
            violation_confirmed=True,
            remediation=RemediationPlan(
                items=["Delete the dataset", "Certify it"], deadline_days=10
            ),
        ),
        actor=actor,
    )


def test_items_verified_over_the_api_unblock_remediate(
    planned: Any, make_caller: Callable[..., ApiCaller]
) -> None:
    caller = make_caller("cases:write", "cases:read", role="investigator")
    items = list(RemediationItem.objects.filter(plan__case=planned).order_by("position"))

    blocked = caller.post(
        f"/cases/{planned.pk}/transitions",
        {"action": "remediate", "verification_note": "checked"},
    )
    problem(blocked, 409, "plan_not_verified")

    for item in items:
        response = caller.post(
            f"/cases/{planned.pk}/plan/items/{item.pk}/verify", {"note": "seen the certificate"}
        )
        assert response.status_code == 200, response.content
    plan = response.json()["remediation_plan"]
    assert all(i["verified_at"] for i in plan["items"])
    assert CaseEvent.objects.filter(case=planned, action="plan_item_verified").count() == 2

    done = caller.post(
        f"/cases/{planned.pk}/transitions",
        {"action": "remediate", "verification_note": "checked"},
    )
    assert done.status_code == 200, done.content
    assert done.json()["state"] == "remediated"


def test_an_item_of_a_case_no_longer_investigated_is_a_conflict(
    planned: Any, make_caller: Callable[..., ApiCaller]
) -> None:
    caller = make_caller("cases:write", "cases:read", role="lead")
    item = RemediationItem.objects.filter(plan__case=planned).first()
    assert item is not None
    done = caller.post(f"/cases/{planned.pk}/transitions", {"action": "dismiss", "reason": "ok"})
    assert done.status_code == 200, done.content

    body = problem(caller.post(f"/cases/{planned.pk}/plan/items/{item.pk}/verify", {}), 409)
    assert body["code"] == "plan_closed"
    assert "dismissed" in body["detail"]
    item.refresh_from_db()
    assert item.verified_at is None


def test_an_analyst_client_cannot_verify_items(
    planned: Any, make_caller: Callable[..., ApiCaller]
) -> None:
    caller = make_caller("cases:write", role="analyst")
    item = RemediationItem.objects.filter(plan__case=planned).first()
    assert item is not None
    problem(caller.post(f"/cases/{planned.pk}/plan/items/{item.pk}/verify", {}), 403)
    item.refresh_from_db()
    assert item.verified_at is None


def test_item_of_another_case_is_404(planned: Any, api: ApiCaller, account: Account) -> None:
    item = RemediationItem.objects.filter(plan__case=planned).first()
    assert item is not None
    problem(api.post(f"/cases/{planned.pk + 999}/plan/items/{item.pk}/verify", {}), 404)
    problem(api.post(f"/cases/{planned.pk}/plan/items/{item.pk + 999}/verify", {}), 404)


def test_verify_needs_cases_write(planned: Any, make_caller: Callable[..., ApiCaller]) -> None:
    item = RemediationItem.objects.filter(plan__case=planned).first()
    assert item is not None
    reader = make_caller("cases:read", role="lead")
    problem(reader.post(f"/cases/{planned.pk}/plan/items/{item.pk}/verify", {}), 403)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("auditor", True), ("lead", True), ("analyst", False), ("investigator", False)],
)
def test_export_is_for_auditors_and_leads(
    planned: Any, staff: Callable[[str], ApiCaller], role: str, allowed: bool
) -> None:
    response = staff(role).get(f"/cases/{planned.pk}/export")
    if allowed:
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["integrity"]["chain_ok"] is True
        assert [e["action"] for e in body["timeline"]] == ["open", "suspend", "investigate"]
        assert body["policy_versions"][0]["text"].startswith("Clause competing-model-development")
    else:
        problem(response, 403)


def test_export_by_client_needs_an_auditor_or_lead_role(
    planned: Any, make_caller: Callable[..., ApiCaller], anonymous: ApiCaller
) -> None:
    assert (
        make_caller("cases:read", role="lead").get(f"/cases/{planned.pk}/export").status_code == 200
    )
    problem(make_caller("cases:read", role="analyst").get(f"/cases/{planned.pk}/export"), 403)
    problem(make_caller("cases:write", role="lead").get(f"/cases/{planned.pk}/export"), 403)
    problem(anonymous.get(f"/cases/{planned.pk}/export"), 401)
    problem(make_caller("cases:read", role="lead").get("/cases/424242/export"), 404)
