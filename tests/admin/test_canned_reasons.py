"""Canned reasons: leads keep them, everyone else reads them, and the transition and bulk forms
offer the active ones for their action. A chosen one is the reason the case records (the typed
text added after it); one deactivated or taken off the action meanwhile is refused in words,
and nothing changes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cases.admin.forms import CANNED_SEPARATOR, SuspendForm
from cases.models import CannedReason, Case, CaseEvent, Decision
from cases.services import canned_reason_deactivate, canned_reason_save
from core.actors import Actor
from core.errors import Forbidden
from tests.admin.conftest import POLICY, MakeCase, change_url, messages_of, transition_url

NOT_LEADS = ["analyst", "investigator", "auditor"]
LIST = "/admin/cases/cannedreason/"
SCRAPING = "Automated scraping of model outputs at a scale that breaches the usage policy."
FALSE_ALARM = "The signals were a false alarm: the traffic matches the account's declared use."


@pytest.fixture
def canned(actors: dict[str, Actor]) -> dict[str, CannedReason]:
    """Three canned reasons: one for suspending, one for dismissing, one deactivated."""
    lead = actors["lead"]
    made = {
        "scraping": canned_reason_save(
            canned_reason=None,
            title="Scraping",
            text=SCRAPING,
            actions=["suspend", "terminate"],
            active=True,
            actor=lead,
        ),
        "false-alarm": canned_reason_save(
            canned_reason=None,
            title="False alarm",
            text=FALSE_ALARM,
            actions=["dismiss"],
            active=True,
            actor=lead,
        ),
        "retired": canned_reason_save(
            canned_reason=None,
            title="Retired wording",
            text="Old words.",
            actions=["suspend", "dismiss"],
            active=False,
            actor=lead,
        ),
    }
    return made


def canned_form(**changes: Any) -> dict[str, Any]:
    return {
        "title": "Key sharing",
        "text": "API keys were shared with third parties.",
        "actions": ["suspend", "investigate"],
        "active": "on",
        **changes,
    }


def options(html: str, form_id: str) -> list[str]:
    """The titles a form's *Canned reason* select offers, in order."""
    start = html.index(f'id="{form_id}"')
    form = html[start : html.index("</form>", start)]
    select = re.search(r'<select name="canned_reason"[^>]*>(.*?)</select>', form, re.S)
    assert select is not None, form_id
    return [t.strip() for t in re.findall(r"<option[^>]*>(.*?)</option>", select.group(1))]


# --- who keeps them ---------------------------------------------------------------------------


def test_a_lead_adds_a_canned_reason_through_its_service(
    login: Any, users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cases.admin import canned_reasons

    calls: list[dict[str, Any]] = []
    real = canned_reasons.canned_reason_save

    def recording(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(canned_reasons, "canned_reason_save", recording)

    response = login("lead").post(f"{LIST}add/", canned_form())

    saved = CannedReason.objects.get(title="Key sharing")
    assert response.status_code == 302, response.content[:2000]
    assert [c["title"] for c in calls] == ["Key sharing"]
    assert saved.text == "API keys were shared with third parties."
    assert saved.actions == ["suspend", "investigate"]
    assert saved.active is True
    assert saved.updated_by == users["lead"]


def test_a_lead_changes_and_deactivates_a_canned_reason(
    login: Any, canned: dict[str, CannedReason], users: dict[str, Any]
) -> None:
    reason = canned["scraping"]
    client = login("lead")

    changed = client.post(
        f"{LIST}{reason.pk}/change/",
        canned_form(title="Scraping", text="New words.", actions=["terminate", "suspend"]),
    )
    deactivated = client.post(
        LIST, {"action": "deactivate", "_selected_action": [reason.pk]}, follow=True
    )

    reason.refresh_from_db()
    assert changed.status_code == 302, changed.content[:2000]
    assert reason.text == "New words."
    assert reason.actions == ["suspend", "terminate"]  # in the workflow's order
    assert reason.active is False
    assert reason.updated_by == users["lead"]
    assert "Deactivated 1: Scraping." in messages_of(deactivated)


def test_an_unknown_action_or_none_is_refused_in_words(login: Any, db: Any) -> None:
    client = login("lead")

    unknown = client.post(f"{LIST}add/", canned_form(actions=["suspend", "reinstate"]))
    none = client.post(f"{LIST}add/", canned_form(actions=[]))

    assert unknown.status_code == 200 and none.status_code == 200
    assert "Select a valid choice. reinstate is not one of" in unknown.content.decode()
    assert "Tick at least one action the reason applies to." in none.content.decode()
    assert CannedReason.objects.exists() is False


def test_nobody_deletes_a_canned_reason(login: Any, canned: dict[str, CannedReason]) -> None:
    reason = canned["scraping"]

    response = login("lead").post(f"{LIST}{reason.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert CannedReason.objects.filter(pk=reason.pk).exists()


@pytest.mark.parametrize("role", NOT_LEADS)
def test_others_read_canned_reasons_and_change_nothing(
    login: Any, canned: dict[str, CannedReason], role: str
) -> None:
    reason = canned["scraping"]
    before = list(CannedReason.objects.order_by("pk").values())
    client = login(role)

    listed = client.get(LIST)
    page = client.get(f"{LIST}{reason.pk}/change/")
    refused = [
        client.get(f"{LIST}add/"),
        client.post(f"{LIST}add/", canned_form()),
        client.post(f"{LIST}{reason.pk}/change/", canned_form(title="Scraping", text="x")),
        client.post(f"{LIST}{reason.pk}/delete/", {"post": "yes"}),
    ]
    action = client.post(LIST, {"action": "deactivate", "_selected_action": [reason.pk]})

    html = page.content.decode()
    assert listed.status_code == 200 and "Scraping" in listed.content.decode()
    assert page.status_code == 200
    assert SCRAPING in html and "Suspend, Terminate account" in html
    assert 'name="text"' not in html and 'name="_save"' not in html
    assert [r.status_code for r in refused] == [403] * 4
    assert action.status_code in (200, 302)
    assert list(CannedReason.objects.order_by("pk").values()) == before


@pytest.mark.parametrize("role", NOT_LEADS)
def test_the_services_refuse_other_roles(
    actors: dict[str, Actor], canned: dict[str, CannedReason], role: str
) -> None:
    reason = canned["scraping"]
    before = list(CannedReason.objects.order_by("pk").values())

    for target in (None, reason):
        with pytest.raises(Forbidden):
            canned_reason_save(
                canned_reason=target,
                title="t",
                text="x",
                actions=["suspend"],
                active=True,
                actor=actors[role],
            )
    with pytest.raises(Forbidden):
        canned_reason_deactivate(canned_reason=reason, actor=actors[role])

    assert list(CannedReason.objects.order_by("pk").values()) == before


def test_canned_reasons_are_listed_under_settings(login: Any, db: Any) -> None:
    for role in ("analyst", "lead", "auditor"):
        html = login(role).get("/admin/").content.decode()
        settings = html[html.index('id="ts-section-settings"') :]
        assert LIST in settings, role


# --- the forms offer them ---------------------------------------------------------------------


def test_each_form_offers_only_the_active_reasons_for_its_action(
    login: Any, make_case: MakeCase, canned: dict[str, CannedReason]
) -> None:
    flagged, investigated = make_case("flagged"), make_case("investigated")
    analyst, lead = login("analyst"), login("lead")

    page = analyst.get(change_url(flagged)).content.decode()
    own_page = analyst.get(transition_url(flagged, "dismiss")).content.decode()
    lead_page = lead.get(change_url(investigated)).content.decode()
    bulk = lead.post(
        "/admin/cases/case/", {"action": "bulk_suspend", "_selected_action": [flagged.pk]}
    ).content.decode()

    assert options(page, "ts-form-suspend") == ["— none —", "Scraping"]
    assert options(page, "ts-form-dismiss") == ["— none —", "False alarm"]
    assert options(own_page, "ts-transition-form") == ["— none —", "False alarm"]
    assert options(lead_page, "ts-form-terminate") == ["— none —", "Scraping"]
    assert (
        'name="canned_reason"'
        not in lead_page.split('id="ts-form-remediate"')[1].split("</form>")[0]
    )  # no canned reason for remediating: the plain form
    assert options(bulk, "content-main") == ["— none —", "Scraping"]
    assert f'title="{SCRAPING}"' in page  # its text, on the option


def test_a_canned_reason_alone_is_the_recorded_reason(
    login: Any, make_case: MakeCase, canned: dict[str, CannedReason]
) -> None:
    case = make_case("flagged")

    response = login("analyst").post(
        transition_url(case, "suspend"),
        {
            "expected_state": "flagged",
            "canned_reason": canned["scraping"].pk,
            "reason": "",
            "policies": [POLICY],
            "_on_case_page": "1",
        },
    )

    case.refresh_from_db()
    event = CaseEvent.objects.get(case=case, action="suspend")
    assert response.status_code == 302, response.content[:3000]
    assert case.state == "suspended"
    assert event.reason == SCRAPING
    assert Decision.objects.get(case=case, kind="suspend").reason == SCRAPING


def test_typed_text_is_added_after_the_canned_text(
    login: Any, make_case: MakeCase, canned: dict[str, CannedReason]
) -> None:
    case = make_case("flagged")

    response = login("analyst").post(
        transition_url(case, "dismiss"),
        {
            "expected_state": "flagged",
            "canned_reason": canned["false-alarm"].pk,
            "reason": "  Checked with the account's owner on the phone.  ",
        },
    )

    case.refresh_from_db()
    event = CaseEvent.objects.get(case=case, action="dismiss")
    assert response.status_code == 302, response.content[:3000]
    assert case.state == "dismissed"
    assert event.reason == (
        f"{FALSE_ALARM}{CANNED_SEPARATOR}Checked with the account's owner on the phone."
    )


def test_a_canned_reason_fills_the_findings_of_an_investigation(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    reason = canned_reason_save(
        canned_reason=None,
        title="Confirmed scraping",
        text="Logs confirm the scraping.",
        actions=["investigate"],
        active=True,
        actor=actors["lead"],
    )
    case = make_case("suspended")

    response = login("investigator").post(
        transition_url(case, "investigate"),
        {"expected_state": "suspended", "canned_reason": reason.pk, "violation_confirmed": "yes"},
    )

    event = CaseEvent.objects.get(case=case, action="investigate")
    assert response.status_code == 302, response.content[:3000]
    assert event.reason == "Logs confirm the scraping."


def test_neither_a_canned_reason_nor_a_typed_one_is_refused_in_words(
    login: Any, make_case: MakeCase, canned: dict[str, CannedReason]
) -> None:
    case = make_case("flagged")
    events = CaseEvent.objects.filter(case=case).count()

    response = login("analyst").post(
        transition_url(case, "suspend"),
        {"expected_state": "flagged", "reason": "", "policies": [POLICY], "_on_case_page": "1"},
    )

    html = response.content.decode()
    case.refresh_from_db()
    assert response.status_code == 200
    assert "Nothing was applied: Reason: Write the reason, or choose a canned reason." in html
    assert case.state == "flagged"
    assert CaseEvent.objects.filter(case=case).count() == events


@pytest.mark.parametrize("on_case_page", [True, False])
def test_a_reason_deactivated_meanwhile_is_refused_and_nothing_changes(
    login: Any,
    make_case: MakeCase,
    canned: dict[str, CannedReason],
    actors: dict[str, Actor],
    on_case_page: bool,
) -> None:
    case = make_case("flagged")
    client = login("analyst")
    client.get(change_url(case))  # the page, with the reason still offered
    canned_reason_deactivate(canned_reason=canned["scraping"], actor=actors["lead"])
    events = CaseEvent.objects.filter(case=case).count()

    response = client.post(
        transition_url(case, "suspend"),
        {
            "expected_state": "flagged",
            "canned_reason": canned["scraping"].pk,
            "reason": "typed too",
            "policies": [POLICY],
            **({"_on_case_page": "1"} if on_case_page else {}),
        },
    )

    html = response.content.decode()
    case.refresh_from_db()
    assert response.status_code == 200
    assert "\u201cScraping\u201d was deactivated after this page was loaded" in html
    if on_case_page:  # the panel's line of errors, each under its label
        assert "Nothing was applied: Canned reason: \u201cScraping\u201d was deactivated" in html
    assert "canned_reason:" not in html
    assert "typed too" in html  # what was typed is kept
    assert case.state == "flagged"
    assert CaseEvent.objects.filter(case=case).count() == events
    assert Decision.objects.filter(case=case).exists() is False


def test_a_reason_taken_off_the_action_meanwhile_is_refused(
    login: Any, make_case: MakeCase, canned: dict[str, CannedReason], actors: dict[str, Actor]
) -> None:
    case = make_case("flagged")
    reason = canned["scraping"]
    canned_reason_save(
        canned_reason=reason,
        title=reason.title,
        text=reason.text,
        actions=["terminate"],
        active=True,
        actor=actors["lead"],
    )

    response = login("analyst").post(
        transition_url(case, "suspend"),
        {
            "expected_state": "flagged",
            "canned_reason": reason.pk,
            "policies": [POLICY],
            "_on_case_page": "1",
        },
    )

    case.refresh_from_db()
    assert response.status_code == 200
    assert "\u201cScraping\u201d is no longer offered for \u201cSuspend\u201d" in (
        response.content.decode()
    )
    assert case.state == "flagged"


@pytest.mark.parametrize("posted", ["999999", "\u00b9", "x", "9" * 40])
def test_a_canned_reason_that_is_not_there_is_refused_in_words(
    canned: dict[str, CannedReason], posted: str
) -> None:
    form = SuspendForm({"expected_state": "flagged", "canned_reason": posted, "policies": [POLICY]})

    assert form.is_valid() is False
    assert form.errors["canned_reason"] == [
        "The chosen canned reason no longer exists: choose another, or write the reason yourself."
    ]


# --- bulk actions -----------------------------------------------------------------------------


def bulk(client: Any, action: str, cases: list[Case], **data: Any) -> Any:
    return client.post(
        "/admin/cases/case/",
        {"action": action, "_selected_action": [c.pk for c in cases], "apply": "1", **data},
        follow=True,
    )


def test_bulk_dismiss_with_a_canned_reason(
    login: Any, make_case: MakeCase, canned: dict[str, CannedReason]
) -> None:
    cases = [make_case("flagged"), make_case("flagged")]

    response = bulk(
        login("analyst"), "bulk_dismiss", cases, canned_reason=canned["false-alarm"].pk, reason=""
    )

    events = CaseEvent.objects.filter(case__in=cases, action="dismiss")
    assert "Dismissed 2 case(s)" in " ".join(messages_of(response))
    assert set(
        Case.objects.filter(pk__in=[c.pk for c in cases]).values_list("state", flat=True)
    ) == {"dismissed"}
    assert [e.reason for e in events] == [FALSE_ALARM, FALSE_ALARM]


def test_bulk_suspend_with_a_canned_reason_and_more_text(
    login: Any, make_case: MakeCase, canned: dict[str, CannedReason]
) -> None:
    cases = [make_case("flagged"), make_case("flagged")]

    bulk(
        login("analyst"),
        "bulk_suspend",
        cases,
        canned_reason=canned["scraping"].pk,
        reason="Wave of 12 March.",
        policies=[POLICY],
    )

    events = CaseEvent.objects.filter(case__in=cases, action="suspend")
    assert [e.reason for e in events] == [f"{SCRAPING}{CANNED_SEPARATOR}Wave of 12 March."] * 2


def test_bulk_with_a_deactivated_reason_changes_nothing(
    login: Any, make_case: MakeCase, canned: dict[str, CannedReason]
) -> None:
    cases = [make_case("flagged"), make_case("flagged")]
    events = CaseEvent.objects.filter(case__in=cases).count()

    response = bulk(
        login("analyst"), "bulk_dismiss", cases, canned_reason=canned["retired"].pk, reason=""
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert "\u201cRetired wording\u201d was deactivated after this page was loaded" in html
    assert set(
        Case.objects.filter(pk__in=[c.pk for c in cases]).values_list("state", flat=True)
    ) == {"flagged"}
    assert CaseEvent.objects.filter(case__in=cases).count() == events
