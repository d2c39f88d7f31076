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
