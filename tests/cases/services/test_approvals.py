"""Four-eyes approval in the services: propose, approve, reject, expiry, supersession, reminders."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Account
from cases.actions import Terminate
from cases.errors import (
    ApprovalAlreadyPending,
    ApprovalExpired,
    ApprovalNotPending,
    ApprovalSuperseded,
    SelfApproval,
    ViolationNotConfirmed,
)
from cases.models import ApprovalRequest, Case, CaseEvent, Decision, Reminder
from cases.services import (
    approval_approve,
    approval_propose,
    approval_reject,
    approvals_sweep,
    case_act,
    case_note_add,
    case_priority_set,
)
from core.actors import Actor
from core.errors import Forbidden
from notifications.models import Notice
from tests.conftest import make_user

from .helpers import case_in_state

TERMINATE = Terminate(rationale="Repeated, deliberate breach", policies=["rate-limit-evasion"])


@pytest.fixture
def second_lead(users: dict[str, User]) -> Actor:
    return Actor.for_user(make_user("lead", "lead2"))


@pytest.fixture
def investigated(account: Account, policies: Any) -> Case:
    return case_in_state(account, "investigated")


def counts(case: Case) -> tuple[int, int, int, int]:
    return (
        CaseEvent.objects.filter(case=case).count(),
        ApprovalRequest.objects.filter(case=case).count(),
        Decision.objects.filter(case=case).count(),
        Notice.objects.filter(case=case).count(),
    )


def test_terminate_through_case_act_proposes_and_keeps_the_suspension(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor
) -> None:
    before = Decision.objects.filter(case=investigated).count()
    approval = case_act(case=investigated, command=TERMINATE, actor=actors["lead"])
    assert isinstance(approval, ApprovalRequest)
    investigated.refresh_from_db()
    assert investigated.state == "investigated"
    assert investigated.account.enforcement_status == "suspended"
    assert Decision.objects.filter(case=investigated).count() == before
    assert approval.state == "pending"
    assert approval.input == {
        "rationale": "Repeated, deliberate breach",
        "policies": ["rate-limit-evasion"],
        "override_reason": "",
    }
    assert approval.proposed_by_user == actors["lead"].user
    assert approval.expires_at - approval.proposed_at == timedelta(hours=72)
    event = CaseEvent.objects.filter(case=investigated).order_by("-seq").first()
    assert event is not None and event.action == "approval_requested"
    assert event.reason == "Repeated, deliberate breach"
    assert approval.case_seq == event.seq
    # The other lead hears of it, the proposer does not.
    asked = Notice.objects.filter(case=investigated, event="approval.requested")
    assert set(asked.values_list("recipient", flat=True)) == {"lead2@tns.example"}
    assert "Repeated, deliberate breach" in asked.get().body_text


def test_proposal_is_checked_as_the_action_would_be_and_writes_nothing(
    account: Account, policies: Any, actors: dict[str, Actor], second_lead: Actor
) -> None:
    case = case_in_state(account, "suspended")
    from cases.actions import Investigate
    from cases.services import case_transition

    case = case_transition(
        case=case,
        command=Investigate(findings="nothing found", violation_confirmed=False),
        actor=actors["lead"],
    )
    before = counts(case)
    with pytest.raises(ViolationNotConfirmed):
        approval_propose(case=case, command=TERMINATE, actor=actors["lead"])
    with pytest.raises(Forbidden):
        approval_propose(case=case, command=TERMINATE, actor=actors["investigator"])
    assert counts(case) == before
    approval = approval_propose(
        case=case,
        command=Terminate(rationale="r", override_reason="Known repeat offender"),
        actor=actors["lead"],
    )
    assert approval.input["override_reason"] == "Known repeat offender"


def test_a_second_proposal_while_one_is_pending_is_refused(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor
) -> None:
    approval_propose(case=investigated, command=TERMINATE, actor=actors["lead"])
    before = counts(investigated)
    with pytest.raises(ApprovalAlreadyPending):
        approval_propose(case=investigated, command=TERMINATE, actor=second_lead)
    assert counts(investigated) == before


def test_another_lead_approves_and_the_account_is_terminated(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor
) -> None:
    approval = approval_propose(case=investigated, command=TERMINATE, actor=actors["lead"])
    done = approval_approve(approval=approval.pk, actor=second_lead, comment="Agreed")
    investigated.refresh_from_db()
    assert investigated.state == "terminated"
    assert investigated.account.enforcement_status == "terminated"
    assert done.state == "approved"
    assert done.decided_by_user == second_lead.user
    assert done.decision_comment == "Agreed"
    assert done.decision is not None and done.decision.kind == "terminate"
    assert done.decision.reason == "Repeated, deliberate breach"
    actions = list(
        CaseEvent.objects.filter(case=investigated).order_by("seq").values_list("action", flat=True)
    )
    assert actions[-3:] == ["approval_requested", "approval_approved", "terminate"]
    terminate = CaseEvent.objects.get(case=investigated, action="terminate")
    assert terminate.data["approval"]["proposed_by"] == "lead"
    assert terminate.data["approval"]["approved_by"] == "lead2"
    assert Notice.objects.filter(case=investigated, event="termination").count() == 2


def test_the_proposer_cannot_approve_or_reject(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor
) -> None:
    approval = approval_propose(case=investigated, command=TERMINATE, actor=actors["lead"])
    before = counts(investigated)
    with pytest.raises(SelfApproval):
        approval_approve(approval=approval, actor=actors["lead"])
    with pytest.raises(SelfApproval):
        approval_reject(approval=approval, actor=actors["lead"])
    assert counts(investigated) == before
    approval.refresh_from_db()
    assert approval.state == "pending"


def test_the_same_person_through_a_staff_tool_is_the_proposer(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor
) -> None:
    from accounts.services import api_client_create

    tool, _ = api_client_create(name="console", scopes=["cases:write"], role="lead")
    approval = approval_propose(case=investigated, command=TERMINATE, actor=actors["lead"])
    via_tool = Actor.for_tool(tool, actors["lead"].user, name="console", role="lead")
    with pytest.raises(SelfApproval):
        approval_approve(approval=approval, actor=via_tool)
    # The same client on its own proposing, then approving: the same proposer too.
    approval_reject(approval=approval, actor=second_lead)
    client_actor = Actor.for_client(tool, name="console", role="lead")
    again = approval_propose(case=investigated, command=TERMINATE, actor=client_actor)
    with pytest.raises(SelfApproval):
        approval_approve(approval=again, actor=client_actor)
    # Nor a person through it: who stood behind the client's proposal is unknown.
    with pytest.raises(SelfApproval):
        approval_approve(
            approval=again,
            actor=Actor.for_tool(tool, second_lead.user, name="console", role="lead"),
        )
    approval_approve(approval=again, actor=second_lead)
    investigated.refresh_from_db()
    assert investigated.state == "terminated"


def test_only_leads_decide(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor
) -> None:
    approval = approval_propose(case=investigated, command=TERMINATE, actor=actors["lead"])
    for role in ("investigator", "analyst", "auditor"):
        with pytest.raises(Forbidden):
            approval_approve(approval=approval, actor=actors[role])
    approval.refresh_from_db()
    assert approval.state == "pending"


def test_reject_leaves_the_case_investigated_and_suspended(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor
) -> None:
    approval = approval_propose(case=investigated, command=TERMINATE, actor=actors["lead"])
    done = approval_reject(approval=approval, actor=second_lead, comment="Needs more evidence")
    investigated.refresh_from_db()
    assert investigated.state == "investigated"
    assert investigated.account.enforcement_status == "suspended"
    assert done.state == "rejected" and done.decision is None
    event = CaseEvent.objects.filter(case=investigated).order_by("-seq").first()
    assert event is not None and event.action == "approval_rejected"
    assert event.reason == "Needs more evidence"
    told = Notice.objects.get(case=investigated, event="approval.rejected")
    assert told.recipient == "lead@tns.example"
    with pytest.raises(ApprovalNotPending):
        approval_approve(approval=approval, actor=second_lead)
    # A new proposal may follow.
    approval_propose(case=investigated, command=TERMINATE, actor=second_lead)


def test_expired_request_is_refused_and_recorded(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor, settings: Any
) -> None:
    approval = approval_propose(case=investigated, command=TERMINATE, actor=actors["lead"])
    ApprovalRequest.objects.filter(pk=approval.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    approval.refresh_from_db()
    assert approval.state_now == "expired"
    before = Decision.objects.filter(case=investigated).count()
    with pytest.raises(ApprovalExpired) as raised:
        approval_approve(approval=approval, actor=second_lead)
    assert raised.value.status == 409
    approval.refresh_from_db()
    assert approval.state == "expired"
    investigated.refresh_from_db()
    assert investigated.state == "investigated"
    assert Decision.objects.filter(case=investigated).count() == before


def test_the_sweep_expires_and_reminds_once(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor
) -> None:
    approval = approval_propose(case=investigated, command=TERMINATE, actor=actors["lead"])
    now = timezone.now()
    assert approvals_sweep(now=now) == {"expired": 0, "reminded": 0}
    soon = approval.expires_at - timedelta(hours=11)
    assert approvals_sweep(now=soon) == {"expired": 0, "reminded": 1}
    assert approvals_sweep(now=soon + timedelta(minutes=5)) == {"expired": 0, "reminded": 0}
    reminded = Notice.objects.filter(case=investigated, event="approval.reminder")
    assert list(reminded.values_list("recipient", flat=True)) == ["lead2@tns.example"]
    assert Reminder.objects.filter(case=investigated, kind="approval_reminder").count() == 1
    assert approvals_sweep(now=approval.expires_at) == {"expired": 1, "reminded": 0}
    approval.refresh_from_db()
    assert approval.state == "expired" and approval.decided_at is not None


@pytest.mark.parametrize("change", ["priority", "evidence"])
def test_a_change_of_the_case_supersedes_the_request(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor, change: str
) -> None:
    from cases.services import case_evidence_add

    approval = approval_propose(case=investigated, command=TERMINATE, actor=actors["lead"])
    if change == "priority":
        case_priority_set(case=investigated, priority="critical", actor=second_lead, reason="press")
    else:
        case_evidence_add(case=investigated, reference="logs://q/9", actor=second_lead)
    approval.refresh_from_db()
    assert approval.state == "superseded"
    assert approval.superseded_by is not None
    with pytest.raises(ApprovalSuperseded):
        approval_approve(approval=approval, actor=second_lead)
    investigated.refresh_from_db()
    assert investigated.state == "investigated"


def test_a_transition_supersedes_and_a_note_does_not(
    investigated: Case, actors: dict[str, Actor], second_lead: Actor
) -> None:
    from cases.actions import Dismiss
    from cases.services import case_transition

    approval = approval_propose(case=investigated, command=TERMINATE, actor=actors["lead"])
    case_note_add(case=investigated, body="Called the customer", actor=second_lead)
    approval.refresh_from_db()
    assert approval.state == "pending"
    case_transition(case=investigated, command=Dismiss(reason="Settled"), actor=second_lead)
    approval.refresh_from_db()
    assert approval.state == "superseded"
