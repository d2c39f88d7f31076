"""Four-eyes approval through the API: terminate proposes (202), a different lead approves or
rejects, the proposer is refused, expired and superseded requests are 409s."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Account, Partner
from accounts.services import api_client_create
from cases.models import ApprovalRequest, Case, CaseEvent, Decision, EnforcementChange
from cases.services import case_priority_set
from core.actors import Actor
from notifications.models import Notice
from tests.cases.services.helpers import case_in_state
from tests.conftest import make_user

from ..notifications.conftest import make_endpoint
from .conftest import ApiCaller, problem

TERMINATE = {"action": "terminate", "rationale": "Deliberate, repeated breach"}
HOOK = "https://hooks.cloudco.example/tns"


@pytest.fixture
def investigated(account: Account, policies: Any) -> Case:
    return case_in_state(account, "investigated")


@pytest.fixture
def leads(make_caller: Callable[..., ApiCaller]) -> tuple[ApiCaller, ApiCaller]:
    return (
        make_caller("cases:write", "cases:read", "enforcement:read", role="lead", name="lead-a"),
        make_caller("cases:write", "cases:read", role="lead", name="lead-b"),
    )


def propose(caller: ApiCaller, case: Case) -> dict[str, Any]:
    response = caller.post(f"/cases/{case.pk}/transitions", TERMINATE)
    assert response.status_code == 202, response.content
    body: dict[str, Any] = response.json()
    return body


def nothing_written(case: Case) -> tuple[int, int, int, int]:
    return (
        CaseEvent.objects.filter(case=case).count(),
        Decision.objects.filter(case=case).count(),
        EnforcementChange.objects.count(),
        Notice.objects.filter(case=case).count(),
    )


def test_terminate_answers_202_with_a_pending_approval(
    leads: tuple[ApiCaller, ApiCaller], investigated: Case, users: dict[str, User]
) -> None:
    before = Decision.objects.filter(case=investigated).count()
    body = propose(leads[0], investigated)
    approval = ApprovalRequest.objects.get()
    assert body == {
        "approval": {
            "id": approval.pk,
            "action": "terminate",
            "state": "pending",
            "proposed_by": {"kind": "api_client", "label": "api:lead-a", "acted_by": "automation"},
            "expires_at": approval.expires_at.isoformat().replace("+00:00", "Z"),
        }
    }
    investigated.refresh_from_db()
    assert investigated.state == "investigated"
    assert Decision.objects.filter(case=investigated).count() == before
    lookup = leads[0].get(f"/enforcement/{investigated.account.external_id}").json()
    assert lookup["status"] == "suspended"
    # Every lead hears of it (a client proposed, so no person is left out).
    assert Notice.objects.filter(event="approval.requested").get().recipient == "lead@tns.example"


def test_a_refused_terminate_still_is_a_409_and_proposes_nothing(
    leads: tuple[ApiCaller, ApiCaller], account: Account, policies: Any
) -> None:
    from cases.actions import Investigate
    from cases.services import case_transition

    case = case_transition(
        case=case_in_state(account, "suspended"),
        command=Investigate(findings="none", violation_confirmed=False),
        actor=Actor.system(),
    )
    before = nothing_written(case)
    problem(
        leads[0].post(f"/cases/{case.pk}/transitions", TERMINATE), 409, "violation_not_confirmed"
    )
    assert nothing_written(case) == before
    assert not ApprovalRequest.objects.exists()
    problem(
        leads[0].post(
            f"/cases/{case.pk}/transitions",
            {**TERMINATE, "override_reason": "linked accounts", "policies": ["nope"]},
        ),
        422,
    )
    assert not ApprovalRequest.objects.exists()


def test_a_second_lead_approves_and_the_account_is_terminated_everywhere(
    leads: tuple[ApiCaller, ApiCaller],
    investigated: Case,
    partner: Partner,
    settings: Any,
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    make_endpoint(HOOK, partner)
    approval_id = propose(leads[0], investigated)["approval"]["id"]
    feed_before = EnforcementChange.objects.count()
    done = leads[1].post(f"/approvals/{approval_id}/approve", {"comment": "Agreed"})
    assert done.status_code == 200, done.content
    assert done.json()["state"] == "terminated"
    account = investigated.account.external_id
    assert leads[0].get(f"/enforcement/{account}").json()["status"] == "terminated"
    assert EnforcementChange.objects.count() == feed_before + 1
    assert Notice.objects.filter(case=investigated, event="termination").count() == 2
    assert Notice.objects.filter(case=investigated, event="enforcement.terminated").count() == 1
    read = leads[1].get(f"/approvals/{approval_id}").json()
    decision = Decision.objects.get(case=investigated, kind="terminate")
    assert read["state"] == "approved"
    assert read["decided_by"]["label"] == "api:lead-b"
    assert read["decision_comment"] == "Agreed"
    assert read["decision"] == decision.reference
    shown = leads[1].get(f"/decisions/{decision.reference}").json()
    assert shown["approval"]["proposed_by"]["label"] == "api:lead-a"
    assert shown["approval"]["approved_by"]["label"] == "api:lead-b"
    # Approving again: no longer pending, nothing more written.
    before = nothing_written(investigated)
    problem(leads[1].post(f"/approvals/{approval_id}/approve", {}), 409, "approval_not_pending")
    assert nothing_written(investigated) == before


def test_the_proposer_gets_self_approval(
    leads: tuple[ApiCaller, ApiCaller], investigated: Case
) -> None:
    approval_id = propose(leads[0], investigated)["approval"]["id"]
    before = nothing_written(investigated)
    for verb in ("approve", "reject"):
        problem(leads[0].post(f"/approvals/{approval_id}/{verb}", {}), 403, "self_approval")
    assert nothing_written(investigated) == before
    assert ApprovalRequest.objects.get().state == "pending"


def test_the_same_person_through_a_staff_tool_gets_self_approval(
    staff: Callable[[str], ApiCaller], investigated: Case, users: dict[str, User]
) -> None:
    approval_id = propose(staff("lead"), investigated)["approval"]["id"]
    _, key = api_client_create(
        name="console", scopes=["cases:write", "cases:read"], role="lead", staff_tool=True
    )
    tool = ApiCaller(staff("lead").client.__class__(raise_request_exception=False), key)
    problem(
        tool.post(f"/approvals/{approval_id}/approve", {}, headers={"Acting-User": "lead"}),
        403,
        "self_approval",
    )
    make_user("lead", "lead2")
    done = tool.post(f"/approvals/{approval_id}/approve", {}, headers={"Acting-User": "lead2"})
    assert done.status_code == 200, done.content
    assert Case.objects.get(pk=investigated.pk).state == "terminated"


def test_only_leads_decide(
    make_caller: Callable[..., ApiCaller],
    staff: Callable[[str], ApiCaller],
    leads: tuple[ApiCaller, ApiCaller],
    investigated: Case,
) -> None:
    approval_id = propose(leads[0], investigated)["approval"]["id"]
    investigator = make_caller("cases:write", role="investigator")
    problem(investigator.post(f"/approvals/{approval_id}/approve", {}), 403, "forbidden")
    problem(staff("investigator").post(f"/approvals/{approval_id}/reject", {}), 403, "forbidden")
    reader = make_caller("cases:read", role="lead")
    problem(reader.post(f"/approvals/{approval_id}/approve", {}), 403)
    assert ApprovalRequest.objects.get().state == "pending"


def test_reject_leaves_the_case_investigated_and_suspended(
    leads: tuple[ApiCaller, ApiCaller], investigated: Case
) -> None:
    approval_id = propose(leads[0], investigated)["approval"]["id"]
    done = leads[1].post(f"/approvals/{approval_id}/reject", {"comment": "More evidence"})
    assert done.status_code == 200, done.content
    assert done.json()["state"] == "rejected"
    assert done.json()["decision_comment"] == "More evidence"
    investigated.refresh_from_db()
    assert investigated.state == "investigated"
    assert investigated.account.enforcement_status == "suspended"
    problem(leads[1].post(f"/approvals/{approval_id}/approve", {}), 409, "approval_not_pending")


def test_an_expired_request_is_a_409(
    leads: tuple[ApiCaller, ApiCaller], investigated: Case
) -> None:
    approval_id = propose(leads[0], investigated)["approval"]["id"]
    ApprovalRequest.objects.filter(pk=approval_id).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert leads[1].get(f"/approvals/{approval_id}").json()["state"] == "expired"
    assert leads[1].get("/approvals", state="pending").json()["results"] == []
    expired = leads[1].get("/approvals", state="expired").json()["results"]
    assert [a["id"] for a in expired] == [approval_id]
    problem(leads[1].post(f"/approvals/{approval_id}/approve", {}), 409, "approval_expired")
    assert Case.objects.get(pk=investigated.pk).state == "investigated"
    assert ApprovalRequest.objects.get().state == "expired"


def test_a_superseded_request_is_a_409(
    leads: tuple[ApiCaller, ApiCaller], investigated: Case
) -> None:
    approval_id = propose(leads[0], investigated)["approval"]["id"]
    case_priority_set(case=investigated, priority="critical", actor=Actor.system(), reason="press")
    assert leads[1].get(f"/approvals/{approval_id}").json()["state"] == "superseded"
    before = nothing_written(investigated)
    problem(leads[1].post(f"/approvals/{approval_id}/approve", {}), 409, "approval_superseded")
    assert nothing_written(investigated) == before
    # A new proposal on the case as it is now is possible.
    assert propose(leads[0], investigated)["approval"]["state"] == "pending"


def test_a_second_proposal_while_one_is_pending_is_a_409(
    leads: tuple[ApiCaller, ApiCaller], investigated: Case
) -> None:
    propose(leads[0], investigated)
    problem(
        leads[1].post(f"/cases/{investigated.pk}/transitions", TERMINATE), 409, "approval_pending"
    )
    assert ApprovalRequest.objects.count() == 1


def test_list_filters_and_pages(
    leads: tuple[ApiCaller, ApiCaller], policies: Any, partner: Partner
) -> None:
    ids = []
    for n in range(3):
        account = Account.objects.create(external_id=f"acct-{n}", contacts=[f"c{n}@x.test"])
        ids.append(propose(leads[0], case_in_state(account, "investigated"))["approval"]["id"])
    leads[1].post(f"/approvals/{ids[0]}/reject", {})
    pending = leads[1].get("/approvals", state="pending").json()
    assert [a["id"] for a in pending["results"]] == [ids[2], ids[1]]
    first = leads[1].get("/approvals", limit="2").json()
    assert [a["id"] for a in first["results"]] == [ids[2], ids[1]]
    rest = leads[1].client.get(first["next"], headers=leads[1].headers).json()
    assert [a["id"] for a in rest["results"]] == [ids[0]]
    assert rest["results"][0]["state"] == "rejected"
    problem(leads[1].get("/approvals", state="maybe"), 400, "invalid_query")
    problem(leads[1].get("/approvals/999999"), 404)
    problem(leads[1].post("/approvals/999999/approve", {}), 404)
    problem(leads[1].post("/approvals/999999/reject", {}), 404)
