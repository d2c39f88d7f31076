"""Restrictions and decisions in the admin: the suspend form picks what to restrict and for how
long; the case, the account and the decision pages show what is in force and why."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from accounts.models import Account
from cases.models import ApprovalRequest, Decision
from cases.services import approval_approve
from core.actors import Actor
from tests.conftest import make_user

from .conftest import POLICY, MakeCase, change_url, messages_of, transition_url


def test_a_rate_limit_for_seven_days_from_the_suspend_form(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    client = login("analyst")
    form = client.get(transition_url(case, "suspend"))
    assert b'name="restriction_kind"' in form.content
    assert b'name="requests_per_minute"' in form.content

    response = client.post(
        transition_url(case, "suspend"),
        {
            "expected_state": "flagged",
            "reason": "Bursts far above the plan",
            "policies": [POLICY],
            "restriction_kind": "rate_limit",
            "requests_per_minute": "10",
            "duration": "P7D",
        },
        follow=True,
    )

    assert any("suspend done" in m for m in messages_of(response))
    decision = Decision.objects.get(case=case)
    assert decision.kind == "restrict"
    [restriction] = decision.restrictions.all()
    assert (restriction.kind, restriction.requests_per_minute) == ("rate_limit", 10)
    assert restriction.ends_at is not None
    page = client.get(change_url(case)).content.decode()
    assert decision.reference in page
    assert "requests above 10 requests per minute" in page
    account_page = client.get(
        reverse("admin:accounts_account_change", args=[case.account_id])
    ).content.decode()
    assert "restricted" in account_page and decision.reference in account_page
    decision_page = client.get(
        reverse("admin:cases_decision_change", args=[decision.pk])
    ).content.decode()
    assert "Your account&#x27;s API use is limited to 10 requests per minute" in decision_page


def test_a_block_without_names_shows_the_form_again(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    response = login("analyst").post(
        transition_url(case, "suspend"),
        {
            "expected_state": "flagged",
            "reason": "Misuse of one model",
            "policies": [POLICY],
            "restriction_kind": "model_block",
        },
    )
    assert response.status_code == 200
    assert "names the models it blocks" in response.content.decode()
    case.refresh_from_db()
    assert case.state == "flagged" and not Decision.objects.exists()


def test_terminating_after_no_violation_keeps_the_form_and_asks_for_an_override(
    login: Any, make_case: MakeCase
) -> None:
    case = make_case("suspended")
    client = login("lead")
    client.post(
        transition_url(case, "investigate"),
        {"expected_state": "suspended", "findings": "Nothing found", "violation_confirmed": "no"},
    )
    refused = client.post(
        transition_url(case, "terminate"),
        {"expected_state": "investigated", "rationale": "My typed rationale"},
    )
    assert refused.status_code == 200
    assert "My typed rationale" in refused.content.decode()
    assert "override_reason" in refused.content.decode()
    case.refresh_from_db()
    assert case.state == "investigated"

    client.post(
        transition_url(case, "terminate"),
        {
            "expected_state": "investigated",
            "rationale": "My typed rationale",
            "override_reason": "Linked accounts show the breach",
        },
    )
    case.refresh_from_db()
    assert case.state == "investigated"
    approval = ApprovalRequest.objects.get(case=case, state="pending")
    assert approval.input["override_reason"] == "Linked accounts show the breach"
    approval_approve(approval=approval, actor=Actor.for_user(make_user("lead", "lead2")))
    case.refresh_from_db()
    assert case.state == "terminated"
    assert Decision.objects.get(case=case, kind="terminate").override_reason


def test_a_contactless_account_is_flagged_on_the_case(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    Account.objects.filter(pk=case.account_id).update(contacts=[])
    client = login("analyst")
    client.post(
        transition_url(case, "suspend"),
        {"expected_state": "flagged", "reason": "abuse", "policies": [POLICY]},
    )
    page = client.get(change_url(case)).content.decode()
    decision = Decision.objects.get(case=case)
    assert 'id="ts-no-contact"' in page
    assert decision.reference in page
