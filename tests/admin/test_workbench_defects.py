"""The defects a lead found on the case page, each pinned: notes in a panel of their own, a
lead's override shown on the plan, typed text kept when the case changed underneath, only
actions that can succeed offered, no back-to-list "Close" button, each field shown once in one
time format, the suspend form citing the case's policies, a link to the open case that blocks
another."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from cases.actions import Investigate, RemediationPlan, Suspend
from cases.models import Case, CaseEvent, PolicyClause, RemediationItem
from cases.services import case_note_add, case_transition
from tests.admin.conftest import POLICY, MakeCase, change_url, transition_url


def _panel(html: str, panel_id: str) -> str:
    start = html.index(f'id="{panel_id}"')
    return html[start : html.index("</fieldset>", start)]


def _with_plan(make_case: MakeCase, actors: dict[str, Any], items: int) -> Case:
    case = make_case("suspended")
    plan = RemediationPlan(
        items=[f"change {n}" for n in range(1, items + 1)],
        deadline=timezone.now() + timedelta(days=7),
    )
    command = Investigate(findings="confirmed", violation_confirmed=True, remediation=plan)
    return case_transition(case=case, command=command, actor=actors["investigator"])


def test_notes_have_their_own_panel_newest_first(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = make_case("flagged")
    case_note_add(case=case.pk, body="first call with the customer", actor=actors["analyst"])
    case_note_add(case=case.pk, body="second call, they agreed", actor=actors["analyst"])

    html = login("auditor").get(change_url(case)).content.decode()

    notes = _panel(html, "ts-notes")
    assert notes.index("second call") < notes.index("first call")
    assert "first call" not in _panel(html, "ts-evidence")
    timeline = _panel(html, "ts-timeline")
    assert "note: " not in timeline  # the note's id is not read as its text
    assert "body: first call with the customer" in timeline


def test_a_leads_override_of_an_unverified_plan_is_shown_on_the_plan(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = _with_plan(make_case, actors, items=2)
    client = login("lead")

    client.post(
        transition_url(case, "remediate"),
        {
            "expected_state": "investigated",
            "verification_note": "spot-checked",
            "override_reason": "customer proved the changes by call",
        },
    )

    case.refresh_from_db()
    plan = _panel(client.get(change_url(case)).content.decode(), "ts-plan")
    assert case.state == "remediated"
    assert "closed by a lead's override with 2 item(s) unverified" in plan
    assert "customer proved the changes by call" in plan
    assert "lead" in plan
    assert plan.count("no (overridden)") == 2
    assert "; verified " not in plan


def test_the_typed_findings_survive_a_case_that_changed_underneath(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = make_case("suspended")
    client = login("investigator")
    client.get(transition_url(case, "dismiss"))
    # Someone else investigates meanwhile.
    case_transition(
        case=case,
        command=Investigate(findings="other", violation_confirmed=True),
        actor=actors["lead"],
    )
    before = list(CaseEvent.objects.filter(case=case).values_list("seq", flat=True))

    response = client.post(
        transition_url(case, "dismiss"),
        {"expected_state": "suspended", "reason": "two pages of careful reasoning"},
    )

    html = response.content.decode()
    case.refresh_from_db()
    assert response.status_code == 200
    assert "changed while you were looking: it is investigated, not suspended" in html
    assert "two pages of careful reasoning" in html
    # Submitting again now acts on the state the case is in.
    assert re.search(r'name="expected_state" value="investigated"', html)
    assert list(CaseEvent.objects.filter(case=case).values_list("seq", flat=True)) == before
    assert case.state == "investigated"


def test_text_is_kept_read_only_when_the_action_is_no_longer_possible(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = make_case("flagged")
    client = login("analyst")
    case_transition(case=case, command=Suspend(reason="x", policies=[POLICY]), actor=actors["lead"])
    before = CaseEvent.objects.filter(case=case).count()

    html = client.post(
        transition_url(case, "suspend"),
        {"expected_state": "flagged", "reason": "my long reason", "policies": [POLICY]},
    ).content.decode()

    assert "my long reason" in html
    assert 'id="ts-blocked"' in html
    assert re.search(r'<input type="submit"[^>]*disabled', html)
    assert CaseEvent.objects.filter(case=case).count() == before


def test_reinstate_is_not_offered_to_an_investigator_while_items_are_unverified(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = _with_plan(make_case, actors, items=2)
    client = login("investigator")

    html = client.get(change_url(case)).content.decode()
    form = client.get(transition_url(case, "remediate"), follow=True)
    lead_html = login("lead").get(change_url(case)).content.decode()

    assert f'href="{transition_url(case, "remediate")}"' not in html
    assert 'aria-disabled="true"' in html
    assert "2 plan item(s) not verified yet" in _panel_actions(html)
    assert b'id="ts-transition-form"' not in form.content
    assert b"not possible now" in form.content
    assert f'href="{transition_url(case, "remediate")}"' in lead_html  # a lead may override

    for item in RemediationItem.objects.filter(plan__case=case):
        client.post(f"/admin/cases/case/{case.pk}/items/{item.pk}/verify/", {"note": "seen"})
    after = client.get(change_url(case)).content.decode()
    assert f'href="{transition_url(case, "remediate")}"' in after


def _panel_actions(html: str) -> str:
    start = html.index('id="ts-transitions"')
    return html[start : html.index("</div>", start)]


def test_the_case_page_has_no_back_to_list_close_button(login: Any, make_case: MakeCase) -> None:
    html = login("lead").get(change_url(make_case("flagged"))).content.decode()

    assert 'class="closelink"' not in html
    assert ">Close<" not in html


def test_state_priority_assignee_and_deadline_are_shown_once_with_the_zone(
    login: Any, make_case: MakeCase
) -> None:
    case = make_case("suspended")

    html = login("auditor").get(change_url(case)).content.decode()

    assert "field-state " not in html and "field-review_deadline" not in html
    assert "field-priority" not in html and "field-assignee" not in html
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", html)
    assert " a.m." not in html and " p.m." not in html
    assert f'href="mailto:{case.account.contacts[0]}"' in html


def test_the_submit_button_names_the_whole_action(login: Any, make_case: MakeCase) -> None:
    html = login("investigator").get(transition_url(make_case("suspended"), "investigate"))

    assert b'value="Record investigation"' in html.content


def test_signal_evidence_and_event_details_are_words_not_json(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = _with_plan(make_case, actors, items=1)

    timeline = _panel(login("auditor").get(change_url(case)).content.decode(), "ts-timeline")

    assert '{"' not in timeline and "[&quot;" not in timeline and "{&#x27;" not in timeline
    assert "remediation: (items: change 1; deadline: " in timeline


def test_the_suspend_form_cites_the_cases_own_policies(
    login: Any, make_case: MakeCase, policies: dict[str, PolicyClause]
) -> None:
    case = make_case("flagged")
    case.policies.add(policies[POLICY])

    html = login("analyst").get(transition_url(case, "suspend")).content.decode()

    box = r'<input type="checkbox" name="policies" value="([^"]+)"[^>]*checked'
    checked = re.findall(box, html)
    assert checked == [POLICY]


def test_an_account_with_an_open_case_links_to_it(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")

    response = login("analyst").post(
        "/admin/cases/case/add/",
        {"account": case.account.external_id, "priority": "high", "summary": "twice"},
    )

    assert f'href="{change_url(case)}"' in response.content.decode()
    assert Case.objects.filter(account=case.account).count() == 1


def test_the_forbidden_page_is_the_admins_own(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    before = Case.objects.count()

    response = login("auditor").get("/admin/cases/case/add/")

    html = response.content.decode()
    assert response.status_code == 403
    assert "Your role may not do this" in html
    assert "admin/css/base.css" in html and 'href="/admin/"' in html
    assert Case.objects.count() == before and Case.objects.get(pk=case.pk).state == "flagged"


@pytest.mark.parametrize("on_page", [True, False], ids=["in place", "own page"])
def test_a_refusal_names_the_field_as_the_form_does_not_the_services_key(
    login: Any, make_case: MakeCase, on_page: bool
) -> None:
    # The service refuses a plan deadline in the past as "'remediation.deadline' must be in
    # the future." (its API callers' name); the form says it under "Remediation deadline".
    case = make_case("suspended")
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    posted = {
        "expected_state": "suspended",
        "findings": "Outputs used to train a competing model",
        "violation_confirmed": "yes",
        "plan_items": "Delete the distilled weights",
        "plan_deadline": past,
        **({"_on_case_page": "1"} if on_page else {}),
    }

    html = login("investigator").post(transition_url(case, "investigate"), posted).content.decode()

    assert "remediation.deadline" not in html
    # Beside the field on both; in place, also in the summary above the form.
    assert re.search(r'<ul class="errorlist"[^>]*><li>Must be in the future\.</li>', html)
    if on_page:
        assert "Nothing was applied: Remediation deadline: Must be in the future." in html
    assert "Delete the distilled weights" in html  # what was typed is kept
    case.refresh_from_db()
    assert case.state == "suspended"


def test_refusals_in_messages_spell_out_input_names_and_keep_quoted_values() -> None:
    from core.admin import refusal_in_words
    from core.errors import InvalidInput, MissingInput

    assert (
        refusal_in_words(InvalidInput("'ends_at' must be in the future.", field="ends_at"))
        == "The end of the restriction must be in the future."
    )
    assert (
        refusal_in_words(InvalidInput("'review_date' is wrong.", field="review_date"))
        == "The review date is wrong."
    )
    assert (
        refusal_in_words(
            InvalidInput("'deadline' must be in the future.", field="deadline"),
            {"deadline": "the plan's deadline"},
        )
        == "The plan's deadline must be in the future."
    )
    # A quoted value is the caller's, not an input name: it stays as it was.
    assert (
        refusal_in_words(InvalidInput("Unknown priority 'urgent'.", field="priority"))
        == "Unknown priority 'urgent'."
    )
    assert (
        refusal_in_words(MissingInput(missing=["reason", "legal_reference"]))
        == "Give the reason and the legal reference."
    )
