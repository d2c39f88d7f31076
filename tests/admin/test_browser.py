"""Acceptance 3: a real headless Chromium drives the admin against a live server.

Debian's ``chromium`` and ``chromedriver`` are used as installed; the chromedriver path is
passed explicitly so that Selenium Manager never downloads anything. Without them the test
skips, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from cases.models import Case, CaseEvent
from tests.admin.conftest import POLICY, MakeCase

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_PATH", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)


def _have_browser() -> bool:
    return all(shutil.which(path) or os.access(path, os.X_OK) for path in (CHROMIUM, CHROMEDRIVER))


@pytest.fixture
def browser() -> Iterator[Any]:
    if not _have_browser():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(
                f"CI needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver)"
            )
        pytest.skip("chromium / chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def log_in(driver: Any, base: str, username: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(f"{base}/admin/login/?next=/admin/cases/case/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(f"pw-{username}")
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    driver.find_element(By.ID, "changelist")


def test_analyst_suspends_an_overdue_case_and_auditor_sees_no_buttons(
    browser: Any, live_server: Any, make_case: MakeCase, users: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    late = make_case("flagged", external_id="late-org", overdue=True)
    on_time = make_case("flagged", external_id="on-time-org")
    base = live_server.url

    log_in(browser, base, "analyst")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Overdue (1)").click()
    queue = browser.find_element(By.ID, "result_list").text
    browser.find_element(By.LINK_TEXT, f"#{late.pk}").click()
    # The suspend form opens in place, on the case page.
    browser.find_element(By.CSS_SELECTOR, "summary.ts-transition[data-action=suspend]").click()
    form = browser.find_element(By.ID, "ts-form-suspend")
    form.find_element(By.NAME, "reason").send_keys("Scraping outputs to train a rival model")
    form.find_element(By.CSS_SELECTOR, f"input[name=policies][value={POLICY}]").click()
    form.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    event_row = browser.find_element(By.CSS_SELECTOR, "#ts-timeline tr.ts-event-suspend").text
    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text

    assert "late-org" in queue
    assert "on-time-org" not in queue
    assert "Scraping outputs to train a rival model" in event_row
    assert "flagged → suspended" in event_row
    assert "suspend done" in message
    assert Case.objects.get(pk=late.pk).state == "suspended"
    assert Case.objects.get(pk=on_time.pk).state == "flagged"
    assert CaseEvent.objects.filter(case=late, action="suspend").count() == 1

    log_in(browser, base, "auditor")
    browser.get(f"{base}/admin/cases/case/{on_time.pk}/change/")
    browser.find_element(By.ID, "ts-timeline")
    browser.implicitly_wait(0)

    assert browser.find_elements(By.CSS_SELECTOR, ".ts-transition") == []
    assert browser.find_elements(By.CSS_SELECTOR, ".ts-take") == []
    assert browser.find_elements(By.CSS_SELECTOR, "select[name=action]") == []


SIZES = ((1366, 768), (1920, 1080))


def _overflow(driver: Any) -> int:
    """How many pixels the page, or a table within its box, is wider than it may be (0: no
    horizontal scroll, no column cut off)."""
    return int(
        driver.execute_script(
            """
            const root = document.documentElement;
            let worst = root.scrollWidth - root.clientWidth;
            for (const table of document.querySelectorAll("#content table")) {
              const box = table.parentElement;
              worst = Math.max(worst, table.scrollWidth - box.clientWidth);
            }
            return worst;
            """
        )
    )


def test_dashboard_counts_lead_to_their_queues_and_no_page_scrolls_sideways(
    browser: Any, live_server: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    from cases.services import case_note_add

    late = make_case("suspended", external_id="late-org", overdue=True)
    make_case("flagged", external_id="on-time-org")
    case_note_add(case=late.pk, body="called them " * 30, actor=actors["analyst"])
    base = live_server.url
    log_in(browser, base, "lead")
    pages = [
        "/admin/",
        "/admin/cases/case/?queue=all",
        f"/admin/cases/case/{late.pk}/change/",
        "/admin/cases/caseevent/",
        "/admin/cases/signal/",
        "/admin/notifications/notice/",
        "/admin/notifications/deliveryattempt/",
    ]
    wide: list[tuple[tuple[int, int], str, int]] = []
    for size in SIZES:
        browser.set_window_size(*size)
        browser.get(f"{base}/admin/")
        overdue = browser.find_element(By.ID, "ts-tile-overdue")
        assert overdue.find_element(By.CLASS_NAME, "ts-tile-count").text == "1"
        overdue.click()
        assert f"#{late.pk}" in browser.find_element(By.ID, "result_list").text
        assert "on-time-org" not in browser.find_element(By.ID, "result_list").text
        for page in pages:
            browser.get(f"{base}{page}")
            browser.find_element(By.ID, "content")
            if _overflow(browser) > 0:
                wide.append((size, page, _overflow(browser)))

    assert wide == []


# Counts every page the tab loads (a redirect after a POST ends in one page), in the tab's
# session storage: the script runs first in every new document.
COUNT_LOADS = """
if (window.top === window) {
  const n = Number(sessionStorage.getItem("ts-loads") || "0") + 1;
  sessionStorage.setItem("ts-loads", String(n));
}
"""


def count_loads(driver: Any) -> None:
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_LOADS})


def loads(driver: Any) -> int:
    return int(driver.execute_script('return Number(sessionStorage.getItem("ts-loads") || 0)'))


def reset_loads(driver: Any) -> None:
    driver.execute_script('sessionStorage.setItem("ts-loads", "0")')


def submit(driver: Any, button: Any) -> None:
    """Click a submit button (or a link) and wait for the page it leads to."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    button.click()
    wait = WebDriverWait(driver, 10)
    wait.until(expected_conditions.staleness_of(page))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def set_value(driver: Any, element: Any, value: str) -> None:
    """A datetime-local input, typed as a person's date picker would fill it."""
    driver.execute_script("arguments[0].value = arguments[1];", element, value)


PLAN = ["Delete the derived dataset", "Rotate the API keys", "Appoint a compliance contact"]
DEADLINE = "2030-01-01T09:30"


def lifecycle_on_separate_pages(driver: Any, base: str, case: Case) -> None:
    """The lifecycle as it was done before the forms were in place: each transition on its own
    page (its form, then the submit), each plan item verified on its own."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/admin/cases/case/{case.pk}/change/")

    def own_page(action: str) -> Any:
        driver.find_element(By.CSS_SELECTOR, f"summary[data-action={action}]").click()
        submit(driver, driver.find_element(By.CSS_SELECTOR, f"#ts-panel-{action} a.ts-own-page"))
        return driver.find_element(By.ID, "ts-transition-form")

    form = own_page("suspend")
    form.find_element(By.NAME, "reason").send_keys("Distillation at scale")
    form.find_element(By.CSS_SELECTOR, f"input[name=policies][value={POLICY}]").click()
    submit(driver, form.find_element(By.CSS_SELECTOR, "input[type=submit]"))

    form = own_page("investigate")
    form.find_element(By.NAME, "findings").send_keys("Outputs used to train a rival model")
    form.find_element(By.CSS_SELECTOR, "input[name=violation_confirmed][value=yes]").click()
    form.find_element(By.NAME, "plan_items").send_keys("\n".join(PLAN))
    set_value(driver, form.find_element(By.NAME, "plan_deadline"), DEADLINE)
    submit(driver, form.find_element(By.CSS_SELECTOR, "input[type=submit]"))

    for _ in PLAN:
        driver.find_element(By.CSS_SELECTOR, "input.ts-verify-item").click()
        driver.find_element(By.NAME, "note").send_keys("seen")
        submit(driver, driver.find_element(By.ID, "ts-verify-submit"))

    form = own_page("remediate")
    form.find_element(By.NAME, "verification_note").send_keys("All three changes checked")
    submit(driver, form.find_element(By.CSS_SELECTOR, "input[type=submit]"))


def lifecycle_on_the_case_page(driver: Any, base: str, case: Case) -> None:
    """The same lifecycle with the forms in place: one submit per transition, one for the
    whole plan."""
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/admin/cases/case/{case.pk}/change/")

    def panel(action: str) -> Any:
        driver.find_element(By.CSS_SELECTOR, f"summary[data-action={action}]").click()
        return driver.find_element(By.ID, f"ts-form-{action}")

    form = panel("suspend")
    form.find_element(By.NAME, "reason").send_keys("Distillation at scale")
    form.find_element(By.CSS_SELECTOR, f"input[name=policies][value={POLICY}]").click()
    submit(driver, form.find_element(By.CSS_SELECTOR, "input[type=submit]"))

    form = panel("investigate")
    form.find_element(By.NAME, "findings").send_keys("Outputs used to train a rival model")
    form.find_element(By.CSS_SELECTOR, "input[name=violation_confirmed][value=yes]").click()
    form.find_element(By.NAME, "plan_items").send_keys("\n".join(PLAN))
    set_value(driver, form.find_element(By.NAME, "plan_deadline"), DEADLINE)
    submit(driver, form.find_element(By.CSS_SELECTOR, "input[type=submit]"))

    for box in driver.find_elements(By.CSS_SELECTOR, "input.ts-verify-item"):
        box.click()
    driver.find_element(By.NAME, "note").send_keys("seen")
    submit(driver, driver.find_element(By.ID, "ts-verify-submit"))

    form = panel("remediate")
    form.find_element(By.NAME, "verification_note").send_keys("All three changes checked")
    submit(driver, form.find_element(By.CSS_SELECTOR, "input[type=submit]"))


def test_a_whole_lifecycle_takes_at_most_half_the_page_loads(
    browser: Any, live_server: Any, make_case: MakeCase, capsys: Any
) -> None:
    """Issue 16, acceptance 1: suspend, investigate with a 3-item plan, verify the three,
    remediate; as an investigator (who may take every step), counting the pages loaded from
    opening the case to the case remediated (the login is not counted)."""
    from selenium.webdriver.common.by import By

    before_case = make_case("flagged", external_id="before-org")
    after_case = make_case("flagged", external_id="after-org")
    base = live_server.url
    count_loads(browser)
    log_in(browser, base, "investigator")

    reset_loads(browser)
    lifecycle_on_separate_pages(browser, base, before_case)
    before = loads(browser)
    reset_loads(browser)
    lifecycle_on_the_case_page(browser, base, after_case)
    after = loads(browser)
    message = browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text

    with capsys.disabled():
        print(f"\nA lifecycle in page loads: {before} on separate pages, {after} in place")
    for case in (before_case, after_case):
        case.refresh_from_db()
        assert case.state == "remediated"
        actions = list(
            CaseEvent.objects.filter(case=case).order_by("seq").values_list("action", flat=True)
        )
        assert actions == [
            "open",
            "suspend",
            "investigate",
            *["plan_item_verified"] * 3,
            "remediate",
        ]
    assert "remediate done" in message
    assert before == 10  # open, 2 per transition (its page, its submit), 1 per item
    assert after == 5  # open, 1 per transition, 1 for the three items
    assert after * 2 <= before
