"""Acting on one case from its page: every change goes through the services."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from cases.actions import Suspend
from cases.models import Case, CaseEvent, CaseNote, EvidenceReference, RemediationItem
from cases.services import case_transition
from tests.admin.conftest import POLICY, MakeCase, change_url, messages_of, transition_url


def events(case: Case) -> list[str]:
    return list(
        CaseEvent.objects.filter(case=case).order_by("seq").values_list("action", flat=True)
    )


def test_analyst_suspends_from_the_case_page(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    client = login("analyst")

    form = client.get(transition_url(case, "suspend"))
    response = client.post(
        transition_url(case, "suspend"),
        {"expected_state": "flagged", "reason": "distillation at scale", "policies": [POLICY]},
        follow=True,
    )

    case.refresh_from_db()
    assert form.status_code == 200
    assert b'name="expected_state"' in form.content
    assert case.state == "suspended"
    assert events(case)[-1] == "suspend"
    assert case.account.__class__.objects.get(pk=case.account_id).enforcement_status == "suspended"
    assert any("suspend done" in m for m in messages_of(response))
    assert b"distillation at scale" in response.content


def test_case_that_changed_while_looking_is_not_applied(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = make_case("flagged")
    client = login("analyst")
    client.get(transition_url(case, "dismiss"))  # the analyst saw it flagged
    case_transition(case=case, command=Suspend(reason="x", policies=[POLICY]), actor=actors["lead"])
    before = events(case)

    response = client.post(
        transition_url(case, "dismiss"),
        {"expected_state": "flagged", "reason": "false alarm"},
        follow=True,
    )

    case.refresh_from_db()
    assert case.state == "suspended"
    assert events(case) == before
    assert "changed while you were looking" in response.content.decode()


def test_missing_input_shows_the_form_again_and_applies_nothing(
    login: Any, make_case: MakeCase
) -> None:
    case = make_case("flagged")

    response = login("analyst").post(
        transition_url(case, "suspend"), {"expected_state": "flagged", "reason": "no policy"}
    )

    case.refresh_from_db()
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert case.state == "flagged"
    assert events(case) == ["open"]


def test_investigation_with_a_plan_then_verified_items_then_remediation(
    login: Any, make_case: MakeCase
) -> None:
    case = make_case("suspended")
    client = login("investigator")
    deadline = (timezone.now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")

    client.post(
        transition_url(case, "investigate"),
        {
            "expected_state": "suspended",
            "findings": "outputs used to train a rival model",
            "violation_confirmed": "yes",
            "evidence": "logs://q/1\nticket://T-9",
            "plan_items": "Delete the derived dataset\nAppoint a compliance contact",
            "plan_deadline": deadline,
        },
    )
    case.refresh_from_db()
    items = list(RemediationItem.objects.filter(plan__case=case))
    page = client.get(change_url(case)).content.decode()
    refused = client.post(
        transition_url(case, "remediate"),
        {"expected_state": "investigated", "verification_note": "looked"},
    )
    for item in items:
        client.post(f"/admin/cases/case/{case.pk}/items/{item.pk}/verify/", {"note": "seen"})
    done = client.post(
        transition_url(case, "remediate"),
        {"expected_state": "investigated", "verification_note": "all verified"},
    )

    case.refresh_from_db()
    assert len(items) == 2
    assert EvidenceReference.objects.filter(case=case).count() == 2
    assert page.count("ts-verify-item") == 2
    assert refused.status_code == 200
    assert b"not verified" in refused.content
    assert done.status_code == 302
    assert case.state == "remediated"
    assert events(case)[-4:] == [
        "investigate",
        "plan_item_verified",
        "plan_item_verified",
        "remediate",
    ]


def test_lead_overrides_an_unverified_plan_with_a_reason(login: Any, make_case: MakeCase) -> None:
    case = make_case("suspended")
    client = login("lead")
    client.post(
        transition_url(case, "investigate"),
        {
            "expected_state": "suspended",
            "findings": "confirmed",
            "violation_confirmed": "yes",
            "plan_items": "Fix it",
            "plan_deadline": (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
        },
    )

    client.post(
        transition_url(case, "remediate"),
        {
            "expected_state": "investigated",
            "verification_note": "checked by phone",
            "override_reason": "customer proved it in a call",
        },
    )

    case.refresh_from_db()
    assert case.state == "remediated"


def test_investigator_form_has_no_override_field(login: Any, make_case: MakeCase) -> None:
    case = make_case("investigated")

    response = login("investigator").get(transition_url(case, "remediate"))

    assert b"override_reason" not in response.content


def test_lead_proposes_a_termination_and_nothing_is_terminated(
    login: Any, make_case: MakeCase
) -> None:
    case = make_case("investigated")

    response = login("lead").post(
        transition_url(case, "terminate"),
        {"expected_state": "investigated", "rationale": "third violation"},
        follow=True,
    )

    case.refresh_from_db()
    assert case.state == "investigated"
    assert case.account.__class__.objects.get(pk=case.account_id).enforcement_status == "suspended"
    assert b"terminate proposed" in response.content
    assert b'id="ts-pending-approval"' in response.content


def test_take_reassign_and_priority(
    login: Any, make_case: MakeCase, users: dict[str, User]
) -> None:
    case = make_case("flagged", priority="low")

    login("analyst").post(f"/admin/cases/case/{case.pk}/assign/", {"take": "1"})
    case.refresh_from_db()
    taken_by = case.assignee_id
    lead = login("lead")
    lead.post(
        f"/admin/cases/case/{case.pk}/assign/",
        {"assignee": users["investigator"].pk, "reason": "needs depth"},
    )
    lead.post(f"/admin/cases/case/{case.pk}/priority/", {"priority": "critical", "reason": "press"})

    case.refresh_from_db()
    assert taken_by == users["analyst"].pk
    assert case.assignee_id == users["investigator"].pk
    assert case.priority == "critical"
    assert events(case)[-3:] == ["assign", "assign", "priority"]


def test_note_and_evidence_go_on_the_timeline(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    client = login("analyst")

    client.post(f"/admin/cases/case/{case.pk}/note/", {"body": "called the customer"})
    client.post(
        f"/admin/cases/case/{case.pk}/evidence/",
        {"reference": "logs://query/42", "description": "request spike"},
    )
    empty = client.post(f"/admin/cases/case/{case.pk}/note/", {"body": ""}, follow=True)

    assert CaseNote.objects.get(case=case).body == "called the customer"
    assert EvidenceReference.objects.get(case=case).reference == "logs://query/42"
    assert events(case) == ["open", "note", "evidence"]
    assert any("Nothing was applied" in m for m in messages_of(empty))


def test_timeline_is_newest_first(login: Any, make_case: MakeCase) -> None:
    case = make_case("investigated")

    html = login("auditor").get(change_url(case)).content.decode()

    assert html.index("ts-event-investigate") < html.index("ts-event-suspend")
    assert html.index("ts-event-suspend") < html.index("ts-event-open")


def test_case_page_shows_account_signals_notices_and_plan(login: Any, make_case: MakeCase) -> None:
    case = make_case("suspended")

    html = login("auditor").get(change_url(case)).content.decode()

    assert case.account.external_id in html
    assert "Suspended" in html
    assert 'id="ts-signals"' in html
    assert "suspension" in html  # the notice to the account's contacts
    assert 'id="ts-plan"' in html


def test_analyst_opens_a_case_by_hand(login: Any, make_case: MakeCase) -> None:
    closed = make_case("dismissed")

    response = login("analyst").post(
        "/admin/cases/case/add/",
        {
            "account": closed.account.external_id,
            "priority": "high",
            "summary": "press report",
            "policies": [POLICY],
        },
    )
    again = login("analyst").post(
        "/admin/cases/case/add/",
        {"account": closed.account.external_id, "priority": "high", "summary": "twice"},
    )

    opened = Case.objects.filter(account=closed.account, state="flagged").get()
    assert response.status_code == 302
    assert opened.priority == "high"
    assert [p.code for p in opened.policies.all()] == [POLICY]
    assert again.status_code == 200
    assert b"already has open case" in again.content


def test_timeline_shows_each_events_details(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    client = login("analyst")
    client.post(f"/admin/cases/case/{case.pk}/evidence/", {"reference": "logs://query/77"})

    html = client.get(change_url(case)).content.decode()

    assert "reference: logs://query/77" in html
