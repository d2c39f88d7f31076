"""Issue 16: the transition forms in place on the case page and the plan verified in one POST.

A form posted from the case page that applies nothing brings the case page back with the form
open and filled in (the typed text kept, the errors in words); a success goes back to the case
page with the message. The roles are those of the separate pages.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.actions import Investigate, Remediate, Suspend
from cases.errors import CaseNotFound
from cases.models import Case, CaseEvent, RemediationItem
from cases.services import case_transition, plan_items_verify
from tests.admin.conftest import POLICY, MakeCase, change_url, messages_of, transition_url
from tests.admin.test_workbench_defects import _panel, _with_plan

ON_PAGE = {"_on_case_page": "1"}


def verify_url(case: Case) -> str:
    return f"/admin/cases/case/{case.pk}/items/verify/"


def seqs(case: Case) -> list[int]:
    return list(CaseEvent.objects.filter(case=case).values_list("seq", flat=True))


def transition_panel(html: str, action: str) -> str:
    start = html.index(f'id="ts-panel-{action}"')
    return html[start : html.index("</details>", start)]


def errors_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">(.*?)</p>', html, re.S)
    assert found is not None, element_id
    return found.group(1)


def test_each_allowed_action_has_its_form_in_place(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")

    html = login("analyst").get(change_url(case)).content.decode()

    for action in ("suspend", "dismiss"):
        panel = transition_panel(html, action)
        assert f'action="{transition_url(case, action)}"' in panel
        assert 'name="_on_case_page" value="1"' in panel
        assert 'name="expected_state" value="flagged"' in panel
        assert f'href="{transition_url(case, action)}"' in panel  # its own page, too
        assert " open>" not in panel.split(">", 1)[0] + ">"  # closed until opened
    assert 'id="ts-panel-investigate"' not in html
    assert 'id="ts-transition-form"' not in html  # the separate page's form id is its own


def test_a_form_posted_in_place_goes_back_to_the_case_page(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    client = login("analyst")

    response = client.post(
        transition_url(case, "suspend"),
        {**ON_PAGE, "expected_state": "flagged", "reason": "scraping", "policies": [POLICY]},
    )
    followed = client.get(response["Location"])

    case.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == change_url(case)
    assert case.state == "suspended"
    assert any("suspend done" in m for m in messages_of(followed))


def test_the_in_place_form_keeps_the_typed_text_on_a_validation_error(
    login: Any, make_case: MakeCase
) -> None:
    case = make_case("suspended")
    before = seqs(case)

    response = login("investigator").post(
        transition_url(case, "investigate"),
        {
            **ON_PAGE,
            "expected_state": "suspended",
            "findings": "three pages of careful findings",
            "plan_items": "Delete the dataset\nRotate the keys",
        },
    )

    html = response.content.decode()
    panel = transition_panel(html, "investigate")
    errors = errors_of(panel, "ts-errors-investigate")
    case.refresh_from_db()
    assert response.status_code == 200
    assert 'id="ts-case"' in html  # the case page, not the separate one
    assert panel.startswith('id="ts-panel-investigate" open>')
    assert "three pages of careful findings" in panel
    assert "Delete the dataset\nRotate the keys" in panel
    assert "Violation confirmed: This field is required." in errors
    assert "Remediation deadline: A remediation plan needs a deadline." in errors
    assert "violation_confirmed" not in errors and "plan_deadline" not in errors
    assert case.state == "suspended"
    assert seqs(case) == before


def test_the_in_place_form_keeps_the_typed_text_on_a_domain_error(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = make_case("suspended")
    case = case_transition(
        case=case,
        command=Investigate(findings="nothing found", violation_confirmed=False),
        actor=actors["investigator"],
    )
    before = seqs(case)

    response = login("lead").post(
        transition_url(case, "terminate"),
        {**ON_PAGE, "expected_state": "investigated", "rationale": "my long rationale"},
    )

    html = response.content.decode()
    panel = transition_panel(html, "terminate")
    assert response.status_code == 200
    assert "my long rationale" in panel
    assert "override" in errors_of(panel, "ts-errors-terminate")
    assert "violation_not_confirmed" not in panel
    assert seqs(case) == before


def test_a_stale_state_shows_the_message_and_keeps_the_text(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = make_case("suspended")
    client = login("investigator")
    client.get(change_url(case))  # the investigator saw it suspended
    # Someone else investigates meanwhile.
    case_transition(
        case=case,
        command=Investigate(findings="other", violation_confirmed=True),
        actor=actors["lead"],
    )
    before = seqs(case)

    response = client.post(
        transition_url(case, "dismiss"),
        {**ON_PAGE, "expected_state": "suspended", "reason": "two pages of careful reasoning"},
    )

    html = response.content.decode()
    panel = transition_panel(html, "dismiss")
    case.refresh_from_db()
    assert response.status_code == 200
    assert "changed while you were looking: it is investigated, not suspended" in panel
    assert "Nothing was applied" in panel
    assert "two pages of careful reasoning" in panel
    # Dismissing is still possible from the new state: submitting again acts on it.
    assert 'name="expected_state" value="investigated"' in panel
    assert not re.search(r'<input type="submit"[^>]*disabled', panel)
    assert seqs(case) == before
    assert case.state == "investigated"


def test_a_stale_state_keeps_the_text_to_copy_when_the_action_is_gone(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = make_case("flagged")
    client = login("analyst")
    case_transition(case=case, command=Suspend(reason="x", policies=[POLICY]), actor=actors["lead"])
    before = seqs(case)

    response = client.post(
        transition_url(case, "dismiss"),
        {**ON_PAGE, "expected_state": "flagged", "reason": "my long reason"},
    )

    html = response.content.decode()
    panel = transition_panel(html, "dismiss")
    assert response.status_code == 200
    assert "changed while you were looking: it is suspended, not flagged" in panel
    assert "my long reason" in panel
    assert "You may not dismiss a case that is suspended; your text is kept." in panel
    assert re.search(r'<input type="submit"[^>]*disabled', panel)
    assert seqs(case) == before


def test_the_separate_page_still_works_as_before(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    client = login("analyst")

    page = client.get(transition_url(case, "dismiss"))
    refused = client.post(transition_url(case, "dismiss"), {"expected_state": "flagged"})

    assert b'id="ts-transition-form"' in page.content
    assert b'id="ts-case"' not in refused.content  # errors stay on the separate page
    assert b'id="ts-transition-form"' in refused.content


# --- the plan, verified in one POST -----------------------------------------------------------


def test_the_bulk_verify_verifies_the_ticked_items_only(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = _with_plan(make_case, actors, items=3)
    items = list(RemediationItem.objects.filter(plan__case=case).order_by("pk"))
    client = login("investigator")

    page = client.get(change_url(case)).content.decode()
    response = client.post(
        verify_url(case), {"items": [items[0].pk, items[2].pk], "note": "seen in the logs"}
    )
    followed = client.get(response["Location"])

    verified = {
        item.pk: (item.verified_at is not None, item.verification_note)
        for item in RemediationItem.objects.filter(plan__case=case)
    }
    assert _panel(page, "ts-plan").count('class="ts-verify-item"') == 3
    assert response.status_code == 302
    assert response["Location"] == change_url(case)
    assert verified == {
        items[0].pk: (True, "seen in the logs"),
        items[1].pk: (False, ""),
        items[2].pk: (True, "seen in the logs"),
    }
    assert CaseEvent.objects.filter(case=case, action="plan_item_verified").count() == 2
    assert any("Verified 2 plan item(s): change 1; change 3" in m for m in messages_of(followed))
    # The one left is the only checkbox now.
    assert _panel(followed.content.decode(), "ts-plan").count('class="ts-verify-item"') == 1


def test_verifying_nothing_ticked_keeps_the_note_and_says_why(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = _with_plan(make_case, actors, items=2)
    before = seqs(case)

    response = login("investigator").post(verify_url(case), {"note": "my careful note"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "my careful note" in _panel(html, "ts-plan")
    assert "Tick at least one plan item to verify." in errors_of(html, "ts-verify-errors")
    assert seqs(case) == before


def test_a_refused_bulk_verify_verifies_none_and_keeps_the_ticks(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = _with_plan(make_case, actors, items=2)
    items = list(RemediationItem.objects.filter(plan__case=case).order_by("pk"))
    client = login("investigator")
    client.get(change_url(case))
    # A lead closes the case meanwhile, overriding the plan.
    case_transition(
        case=case,
        command=Remediate(verification_note="by phone", override_reason="proved in a call"),
        actor=actors["lead"],
    )
    before = seqs(case)

    response = client.post(
        verify_url(case), {"items": [i.pk for i in items], "note": "my careful note"}
    )

    html = response.content.decode()
    plan = _panel(html, "ts-plan")
    assert response.status_code == 200
    assert "Nothing was verified" in errors_of(html, "ts-verify-errors")
    assert "my careful note" in plan
    assert plan.count(" checked>") == 2
    assert re.search(r'id="ts-verify-submit"[^>]*disabled', plan)
    assert RemediationItem.objects.filter(plan__case=case, verified_at__isnull=False).count() == 0
    assert seqs(case) == before


def test_an_item_of_another_case_is_refused(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = _with_plan(make_case, actors, items=1)
    other = _with_plan(make_case, actors, items=1)
    foreign = RemediationItem.objects.get(plan__case=other)

    response = login("investigator").post(verify_url(case), {"items": [foreign.pk]})

    assert response.status_code == 200
    assert "not on this case&#x27;s plan" in errors_of(
        response.content.decode(), "ts-verify-errors"
    )
    assert RemediationItem.objects.filter(verified_at__isnull=False).count() == 0


def test_plan_items_verify_is_one_transaction(make_case: MakeCase, actors: dict[str, Any]) -> None:
    case = _with_plan(make_case, actors, items=2)
    first, second = RemediationItem.objects.filter(plan__case=case).order_by("pk")

    with pytest.raises(CaseNotFound):
        plan_items_verify(items=[first.pk, 10**9, second.pk], actor=actors["investigator"])

    assert RemediationItem.objects.filter(plan__case=case, verified_at__isnull=False).count() == 0
    done = plan_items_verify(items=[first, second], actor=actors["investigator"], note="ok")
    assert [i.verification_note for i in done] == ["ok", "ok"]


# --- roles ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["flagged", "suspended", "investigated"])
def test_an_auditor_gets_no_forms(
    login: Any, make_case: MakeCase, actors: dict[str, Any], state: str
) -> None:
    case = _with_plan(make_case, actors, items=2) if state == "investigated" else make_case(state)

    html = login("auditor").get(change_url(case)).content.decode()

    assert "ts-transition-panel" not in html
    assert "_on_case_page" not in html
    assert 'id="ts-plan-verify"' not in html
    assert "ts-verify-item" not in html
    assert "/transition/" not in html


def test_an_auditors_posts_are_refused_and_change_nothing(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = _with_plan(make_case, actors, items=2)
    items = list(RemediationItem.objects.filter(plan__case=case).values_list("pk", flat=True))
    before = seqs(case)
    client = login("auditor")

    dismiss = client.post(
        transition_url(case, "dismiss"),
        {**ON_PAGE, "expected_state": "investigated", "reason": "forged"},
    )
    verify = client.post(verify_url(case), {"items": items, "note": "forged"})

    case.refresh_from_db()
    assert dismiss.status_code == 403
    assert verify.status_code == 403
    assert case.state == "investigated"
    assert seqs(case) == before
    assert RemediationItem.objects.filter(plan__case=case, verified_at__isnull=False).count() == 0


def test_an_analyst_may_not_verify_in_bulk(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = _with_plan(make_case, actors, items=2)
    items = list(RemediationItem.objects.filter(plan__case=case).values_list("pk", flat=True))
    client = login("analyst")

    page = client.get(change_url(case)).content.decode()
    forged = client.post(verify_url(case), {"items": items, "note": "forged"}, follow=True)

    assert 'id="ts-plan-verify"' not in page
    assert any("may not verify" in m for m in messages_of(forged))
    assert RemediationItem.objects.filter(plan__case=case, verified_at__isnull=False).count() == 0


def test_an_analyst_forging_an_in_place_investigation_is_refused(
    login: Any, make_case: MakeCase
) -> None:
    case = make_case("suspended")
    before = seqs(case)

    response = login("analyst").post(
        transition_url(case, "investigate"),
        {**ON_PAGE, "expected_state": "suspended", "findings": "x", "violation_confirmed": "yes"},
    )

    assert response.status_code == 302
    assert seqs(case) == before


# --- queries ----------------------------------------------------------------------------------


def page_queries(client: Any, case: Case) -> int:
    client.get(change_url(case))  # warm the per-process caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(change_url(case))
    assert response.status_code == 200
    return len(captured)


# The case page's queries with the forms in place, and before them: the suspend form reads the
# policies to tick (+1); the terminate form asks whether another lead exists (+1); the active
# canned reasons are read once for all the forms (+1, none for the auditor, who has no form);
# the other forms and the plan's one verify form read nothing more.
PINNED = {
    ("analyst", "flagged"): (29, 27),
    ("investigator", "suspended"): (30, 29),
    ("investigator", "plan"): (32, 31),
    ("lead", "plan"): (34, 32),
    ("auditor", "plan"): (30, 30),
}


@pytest.mark.parametrize(("role", "state"), list(PINNED))
def test_the_case_page_with_its_forms_runs_a_fixed_number_of_queries(
    login: Any, make_case: MakeCase, actors: dict[str, Any], role: str, state: str
) -> None:
    def build(items: int) -> Case:
        if state == "plan":
            return _with_plan(make_case, actors, items=items)
        return make_case(state)

    client = login(role)
    small, large = page_queries(client, build(1)), page_queries(client, build(12))

    assert small == large
    assert large <= PINNED[(role, state)][0]


def test_the_deadline_of_the_plan_is_kept_on_the_in_place_form(
    login: Any, make_case: MakeCase
) -> None:
    case = make_case("suspended")
    deadline = (timezone.now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")

    response = login("investigator").post(
        transition_url(case, "investigate"),
        {**ON_PAGE, "expected_state": "suspended", "plan_items": "Fix", "plan_deadline": deadline},
    )

    panel = transition_panel(response.content.decode(), "investigate")
    assert f'value="{deadline}"' in panel
    assert "Findings: This field is required." in errors_of(panel, "ts-errors-investigate")
