"""Two leads approving one request at once, on PostgreSQL: one termination, one decision, one
notice per contact."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Account
from cases.actions import Terminate
from cases.errors import ApprovalNotPending
from cases.models import ApprovalRequest, CaseEvent, Decision, EnforcementChange
from cases.services import approval_approve, approval_propose
from core.actors import Actor
from notifications.models import Notice
from tests.conftest import make_user

from .helpers import case_in_state
from .test_concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("require_postgres")]


@pytest.mark.django_db(transaction=True)
def test_two_leads_approving_at_once_terminate_once(account: Account, policies: Any) -> None:
    case = case_in_state(account, "investigated")
    proposer, *approvers = (Actor.for_user(make_user("lead", f"lead-{n}")) for n in range(3))
    approval = approval_propose(
        case=case, command=Terminate(rationale="Repeated, deliberate breach"), actor=proposer
    )
    feed = EnforcementChange.objects.count()

    results = run_at_once(
        2, lambda i: approval_approve(approval=approval.pk, actor=approvers[i], comment=f"#{i}")
    )

    won = [r for r in results if isinstance(r, ApprovalRequest)]
    lost = [r for r in results if not isinstance(r, ApprovalRequest)]
    assert len(won) == 1, results
    assert len(lost) == 1 and isinstance(lost[0], ApprovalNotPending), results
    case.refresh_from_db()
    assert case.state == "terminated"
    assert Decision.objects.filter(case=case, kind="terminate").count() == 1
    assert EnforcementChange.objects.count() == feed + 1
    assert CaseEvent.objects.filter(case=case, action="terminate").count() == 1
    assert CaseEvent.objects.filter(case=case, action="approval_approved").count() == 1
    termination = Notice.objects.filter(case=case, event="termination")
    assert sorted(termination.values_list("recipient", flat=True)) == sorted(account.contacts)
    approval.refresh_from_db()
    assert approval.state == "approved" and approval.decision is not None
