"""Acceptance 1: each role sees exactly its buttons and actions; forged POSTs change nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User

from cases.actions import Investigate, RemediationPlan
from cases.models import Case, CaseEvent, CaseNote, EvidenceReference
from notifications.models import Notice
from tests.admin.conftest import POLICY, MakeCase, change_url, messages_of, transition_url

EXPECTED_BUTTONS = {
    ("flagged", "analyst"): ["suspend", "dismiss"],
    ("flagged", "investigator"): ["suspend", "dismiss"],
    ("flagged", "lead"): ["suspend", "dismiss"],
    ("flagged", "auditor"): [],
    ("suspended", "analyst"): [],
    ("suspended", "investigator"): ["investigate"],
    ("suspended", "lead"): ["investigate"],
    ("suspended", "auditor"): [],
    ("investigated", "analyst"): [],
    ("investigated", "investigator"): ["remediate", "dismiss"],
    ("investigated", "lead"): ["remediate", "terminate", "dismiss"],
    ("investigated", "auditor"): [],
    ("remediated", "lead"): [],
    ("terminated", "lead"): [],
    ("dismissed", "lead"): [],
}

VALID_INPUT = {
    "suspend": {"reason": "abuse", "policies": [POLICY]},
    "investigate": {"findings": "seen", "violation_confirmed": "yes"},
    "remediate": {"verification_note": "checked"},
    "terminate": {"rationale": "repeated abuse"},
    "dismiss": {"reason": "nothing there"},
}


def buttons(response: Any) -> list[str]:
    return re.findall(
        r'class="button ts-transition[^"]*" data-action="(\w+)"', response.content.decode()
    )


def snapshot(case: Case) -> tuple[Any, ...]:
    case.refresh_from_db()
    return (
        case.state,
        case.assignee_id,
        case.priority,
        CaseEvent.objects.filter(case=case).count(),
        Notice.objects.filter(case=case).count(),
        CaseNote.objects.filter(case=case).count(),
        EvidenceReference.objects.filter(case=case).count(),
    )


@pytest.mark.parametrize(("state", "role"), list(EXPECTED_BUTTONS))
def test_case_page_shows_exactly_the_transitions_the_role_may_take(
    login: Any, make_case: MakeCase, state: str, role: str
) -> None:
    case = make_case(state)

    response = login(role).get(change_url(case))

    assert response.status_code == 200
    assert buttons(response) == EXPECTED_BUTTONS[(state, role)]


@pytest.mark.parametrize(
    ("role", "take", "note", "reassign"),
    [
        ("analyst", True, True, False),
        ("investigator", True, True, False),
        ("lead", True, True, True),
        ("auditor", False, False, False),
    ],
)
def test_case_page_offers_assignment_and_notes_by_role(
    login: Any, make_case: MakeCase, role: str, take: bool, note: bool, reassign: bool
) -> None:
    case = make_case("flagged")

    html = login(role).get(change_url(case)).content.decode()

    assert ("ts-take" in html) is take
    assert ("ts-note-form" in html) is note
    assert ("ts-evidence-form" in html) is note
    assert ("ts-reassign" in html) is reassign
    assert ("ts-priority" in html and "Set priority" in html) is reassign


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("analyst", ["bulk_assign", "bulk_dismiss", "bulk_suspend"]),
        ("investigator", ["bulk_assign", "bulk_dismiss", "bulk_suspend"]),
        ("lead", ["bulk_assign", "bulk_dismiss", "bulk_suspend"]),
        ("auditor", []),
    ],
)
def test_case_list_offers_bulk_actions_by_role(
    login: Any, make_case: MakeCase, role: str, expected: list[str]
) -> None:
    make_case("flagged")

    response = login(role).get("/admin/cases/case/")

    offered = re.findall(r'<option value="(bulk_\w+)"', response.content.decode())
    assert sorted(offered) == expected
    assert b"delete_selected" not in response.content


@pytest.mark.parametrize("role", ["analyst", "investigator", "lead", "auditor"])
def test_nobody_edits_or_deletes_case_fields(login: Any, make_case: MakeCase, role: str) -> None:
    case = make_case("flagged")
    before = snapshot(case)
    client = login(role)

    page = client.get(change_url(case))
    forged = client.post(change_url(case), {"state": "terminated", "priority": "low"})
    delete = client.post(f"/admin/cases/case/{case.pk}/delete/", {"post": "yes"})

    event = CaseEvent.objects.filter(case=case).first()
    assert event is not None
    forged_event = client.post(
        f"/admin/cases/caseevent/{event.pk}/change/", {"action": "dismiss", "reason": "x"}
    )
    forged_event_delete = client.post(f"/admin/cases/caseevent/{event.pk}/delete/", {"post": "yes"})

    assert forged_event.status_code == 403
    assert forged_event_delete.status_code == 403
    assert b'name="state"' not in page.content
    assert b'name="_save"' not in page.content
    assert forged.status_code == 403
    assert delete.status_code == 403
    assert snapshot(case) == before


@pytest.mark.parametrize(
    ("state", "role", "action"),
    [
        ("flagged", "auditor", "suspend"),
        ("flagged", "auditor", "dismiss"),
        ("suspended", "analyst", "investigate"),
        ("investigated", "analyst", "remediate"),
        ("investigated", "analyst", "dismiss"),
        ("investigated", "investigator", "terminate"),
        ("flagged", "lead", "terminate"),
        ("suspended", "lead", "suspend"),
        ("dismissed", "lead", "dismiss"),
    ],
)
def test_forged_post_of_a_forbidden_transition_is_refused_and_changes_nothing(
    login: Any, make_case: MakeCase, state: str, role: str, action: str
) -> None:
    case = make_case(state)
    before = snapshot(case)

    response = login(role).post(
        transition_url(case, action), {"expected_state": state, **VALID_INPUT[action]}
    )

    assert snapshot(case) == before
    if role == "auditor":
        assert response.status_code == 403
    else:
        assert response.status_code == 302
        followed = login(role).get(response["Location"])
        assert any("Refused" in m for m in messages_of(followed))


def test_forbidden_transition_form_is_not_even_shown(login: Any, make_case: MakeCase) -> None:
    case = make_case("investigated")

    response = login("investigator").get(transition_url(case, "terminate"))

    assert response.status_code == 302
    assert snapshot(case)[0] == "investigated"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("assign/", {"take": "1"}),
        ("note/", {"body": "forged"}),
        ("evidence/", {"reference": "s3://forged"}),
        ("priority/", {"priority": "critical"}),
    ],
)
def test_auditor_forged_posts_on_a_case_are_refused(
    login: Any, make_case: MakeCase, path: str, data: dict[str, str]
) -> None:
    case = make_case("flagged")
    before = snapshot(case)

    response = login("auditor").post(f"/admin/cases/case/{case.pk}/{path}", data)

    assert response.status_code == 403
    assert snapshot(case) == before


def test_auditor_forged_bulk_action_is_refused(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    before = snapshot(case)

    response = login("auditor").post(
        "/admin/cases/case/",
        {
            "action": "bulk_suspend",
            "_selected_action": [case.pk],
            "apply": "1",
            "reason": "forged",
            "policies": [POLICY],
        },
        follow=True,
    )

    assert response.status_code == 200
    assert snapshot(case) == before


def test_auditor_cannot_open_a_case(login: Any, make_case: MakeCase) -> None:
    case = make_case("dismissed")
    before = Case.objects.count()

    response = login("auditor").post(
        "/admin/cases/case/add/",
        {"account": case.account.external_id, "priority": "high", "summary": "forged"},
    )

    assert response.status_code == 403
    assert Case.objects.count() == before


def test_analyst_cannot_reassign_someone_elses_case(
    login: Any, make_case: MakeCase, users: dict[str, User]
) -> None:
    case = make_case("flagged")
    login("investigator").post(f"/admin/cases/case/{case.pk}/assign/", {"take": "1"})
    before = snapshot(case)

    response = login("analyst").post(
        f"/admin/cases/case/{case.pk}/assign/",
        {"assignee": users["analyst"].pk, "reason": "mine now"},
        follow=True,
    )

    assert snapshot(case) == before
    assert before[1] == users["investigator"].pk
    assert any("may not reassign" in m for m in messages_of(response))


@pytest.mark.parametrize("role", ["analyst", "investigator", "auditor"])
def test_only_leads_change_a_case_priority(login: Any, make_case: MakeCase, role: str) -> None:
    case = make_case("flagged")
    before = snapshot(case)

    login(role).post(f"/admin/cases/case/{case.pk}/priority/", {"priority": "critical"})

    assert snapshot(case) == before


def test_superuser_acts_as_a_lead_and_still_cannot_edit_fields(
    client: Any, make_case: MakeCase
) -> None:
    case = make_case("investigated")
    root = User.objects.create_superuser("root", "root@tns.example", "pw-root")
    client.force_login(root)

    response = client.get(change_url(case))

    assert buttons(response) == ["remediate", "terminate", "dismiss"]
    assert b'name="_save"' not in response.content


def test_only_investigators_and_leads_verify_plan_items(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    from cases.models import RemediationItem
    from cases.services import case_transition

    case = make_case("suspended")
    case_transition(
        case=case,
        command=Investigate(
            findings="seen",
            violation_confirmed=True,
            remediation=RemediationPlan(items=["Fix it"], deadline_days=5),
        ),
        actor=actors["investigator"],
    )
    item = RemediationItem.objects.get(plan__case=case)
    before = snapshot(case)

    analyst_page = login("analyst").get(change_url(case)).content
    forged = login("analyst").post(
        f"/admin/cases/case/{case.pk}/items/{item.pk}/verify/", {"note": "forged"}, follow=True
    )
    investigator_page = login("investigator").get(change_url(case)).content

    item.refresh_from_db()
    assert b"ts-verify-item" not in analyst_page
    assert b"ts-verify-item" in investigator_page
    assert item.verified_at is None
    assert snapshot(case) == before
    assert any("may not verify" in m for m in messages_of(forged))
