"""The approvals queue and the four-eyes flow in the admin: the proposer sees no buttons, a
second lead approves or rejects, a lone lead is told plainly that terminating needs another."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from cases.actions import Terminate
from cases.models import ApprovalRequest, Case, CaseEvent, Decision
from cases.services import approval_propose
from core.actors import Actor
from notifications.models import Notice
from tests.conftest import make_user

from .conftest import MakeCase, change_url, transition_url

QUEUE = "/admin/cases/approvalrequest/"


def page(approval: ApprovalRequest) -> str:
    return f"{QUEUE}{approval.pk}/change/"


def decide(approval: ApprovalRequest) -> str:
    return f"{QUEUE}{approval.pk}/decide/"


def proposed(case: Case, user: User, rationale: str = "third violation") -> ApprovalRequest:
    return approval_propose(
        case=case, command=Terminate(rationale=rationale), actor=Actor.for_user(user)
    )


def test_the_terminate_form_says_it_needs_a_second_lead(
    login: Any, make_case: MakeCase, users: dict[str, User]
) -> None:
    case = make_case("investigated")
    alone = login("lead").get(transition_url(case, "terminate"))
    assert b'id="ts-single-lead"' in alone.content
    assert b"You are the only active lead" in alone.content
    make_user("lead", "lead2")
    paired = login("lead").get(transition_url(case, "terminate"))
    assert b'id="ts-single-lead"' not in paired.content
    assert b'id="ts-four-eyes"' in paired.content
    assert b"Propose for approval" in paired.content


def test_a_second_lead_approves_from_the_queue(
    client: Client, login: Any, make_case: MakeCase, users: dict[str, User]
) -> None:
    case = make_case("investigated")
    second = make_user("lead", "lead2")
    login("lead").post(
        transition_url(case, "terminate"),
        {"expected_state": "investigated", "rationale": "third violation"},
    )
    approval = ApprovalRequest.objects.get(case=case)
    # The proposer sees the request without buttons, and posting is refused.
    own = login("lead").get(page(approval))
    assert own.status_code == 200
    assert b'id="ts-own-proposal"' in own.content and b'id="ts-decide"' not in own.content
    refused = login("lead").post(decide(approval), {"decision": "approve"}, follow=True)
    assert b"You proposed this action" in refused.content
    assert Case.objects.get(pk=case.pk).state == "investigated"
    # The queue lists it, pending first, with the proposal and the case.
    client.force_login(second)
    queue = client.get(QUEUE)
    assert queue.status_code == 200
    assert b"third violation" in queue.content
    shown = client.get(page(approval))
    assert b'id="ts-decide"' in shown.content
    assert b'id="ts-approval-case"' in shown.content and case.account.external_id.encode() in (
        shown.content
    )
    done = client.post(decide(approval), {"decision": "approve", "comment": "agreed"}, follow=True)
    assert b"Approved: case" in done.content
    case.refresh_from_db()
    assert case.state == "terminated"
    approval.refresh_from_db()
    assert approval.state == "approved" and approval.decided_by_user == second
    assert Decision.objects.get(case=case, kind="terminate").approvals.get() == approval
    case_page = client.get(change_url(case))
    assert b'id="ts-approvals"' in case_page.content and b"approved" in case_page.content


def test_a_second_lead_rejects_and_the_case_stays(
    client: Client, make_case: MakeCase, users: dict[str, User]
) -> None:
    case = make_case("investigated")
    approval = proposed(case, users["lead"])
    client.force_login(make_user("lead", "lead2"))
    client.post(decide(approval), {"decision": "reject", "comment": "remediate instead"})
    case.refresh_from_db()
    assert case.state == "investigated"
    approval.refresh_from_db()
    assert approval.state == "rejected"
    assert CaseEvent.objects.filter(case=case, action="approval_rejected").exists()
    assert Notice.objects.filter(event="approval.rejected", recipient=users["lead"].email).exists()


def test_the_case_page_shows_the_pending_request_with_buttons_for_others_only(
    login: Any, make_case: MakeCase, users: dict[str, User]
) -> None:
    case = make_case("investigated")
    approval = proposed(case, users["lead"])
    mine = login("lead").get(change_url(case))
    assert b'id="ts-pending-approval"' in mine.content
    assert b"Approve or reject" not in mine.content
    client = Client()
    client.force_login(make_user("lead", "lead2"))
    other = client.get(change_url(case))
    assert b"Approve or reject" in other.content
    investigator = login("investigator").get(page(approval))
    assert investigator.status_code == 200 and b'id="ts-decide"' not in investigator.content
    login("investigator").post(decide(approval), {"decision": "approve"})
    assert ApprovalRequest.objects.get(pk=approval.pk).state == "pending"
