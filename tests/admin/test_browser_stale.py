"""Issue 16: the stale-state path in real Chromium, at the two window sizes.

An investigator has a flagged case's page open and types a long reason into the dismiss form in
place; meanwhile a lead suspends the case and records the investigation. Submitting applies
nothing, says what changed, keeps every word typed (the form open on the case page, now against
the new state) and a second submit dismisses the case as it now is. The page never scrolls
sideways.
"""

from __future__ import annotations

from typing import Any

import pytest

from cases.actions import Investigate, Suspend
from cases.models import Case, CaseEvent
from cases.services import case_transition
from tests.admin.conftest import POLICY, MakeCase
from tests.admin.test_browser import SIZES, _overflow, browser, log_in, submit

__all__ = ["browser"]  # the fixture, used by name

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REASON = "Two pages of careful reasoning: the traffic was a load test agreed with sales."


@pytest.mark.parametrize(("width", "height"), SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_a_case_changed_underneath_keeps_what_was_typed_and_applies_nothing(
    browser: Any,
    live_server: Any,
    make_case: MakeCase,
    actors: dict[str, Any],
    width: int,
    height: int,
) -> None:
    from selenium.webdriver.common.by import By

    case = make_case("flagged", external_id="stale-org")
    browser.set_window_size(width, height)
    log_in(browser, live_server.url, "investigator")
    browser.get(f"{live_server.url}/admin/cases/case/{case.pk}/change/")
    browser.find_element(By.CSS_SELECTOR, "summary.ts-transition[data-action=dismiss]").click()
    form = browser.find_element(By.ID, "ts-form-dismiss")
    form.find_element(By.NAME, "reason").send_keys(REASON)

    # Meanwhile, a lead suspends the account and records the investigation.
    case_transition(
        case=case.pk,
        command=Suspend(reason="Distillation at scale", policies=[POLICY]),
        actor=actors["lead"],
    )
    case_transition(
        case=case.pk,
        command=Investigate(findings="Confirmed distillation", violation_confirmed=True),
        actor=actors["lead"],
    )
    events = CaseEvent.objects.filter(case=case).count()
    submit(browser, form.find_element(By.CSS_SELECTOR, "input[type=submit]"))

    stale = browser.find_element(By.ID, "ts-stale-dismiss").text
    kept = browser.find_element(By.CSS_SELECTOR, "#ts-form-dismiss textarea[name=reason]")
    assert "it is investigated, not flagged" in stale
    assert "Nothing was applied" in stale
    assert kept.get_attribute("value") == REASON
    assert kept.is_displayed()  # the form is open, in place
    assert Case.objects.get(pk=case.pk).state == "investigated"
    assert CaseEvent.objects.filter(case=case).count() == events
    assert _overflow(browser) <= 0

    # Read again, submit again: it now acts on the state the case is in.
    submit(browser, browser.find_element(By.CSS_SELECTOR, "#ts-form-dismiss input[type=submit]"))

    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text
    assert "dismiss done" in message
    dismissed = Case.objects.get(pk=case.pk)
    assert dismissed.state == "dismissed"
    assert CaseEvent.objects.filter(case=case, action="dismiss").get().reason == REASON
