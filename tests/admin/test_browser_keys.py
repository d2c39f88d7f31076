"""The admin's keyboard (cases/static/cases/keys.js) in a real headless Chromium, at 1366x768 and
1920x1080: moving in the case queue, searching, opening a case, the case page's action keys by
role and the list of keys. Skips without Chromium, except in CI (see test_browser.py)."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import Case
from tests.admin.conftest import MakeCase
from tests.admin.test_browser import SIZES, _overflow, log_in
from tests.admin.test_browser import browser as browser  # the fixture, shared

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def keys_ready(driver: Any) -> None:
    """Wait until keys.js (deferred) runs on the page."""
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script(
            'return document.documentElement.classList.contains("ts-keys-on")'
        )
    )


def press(driver: Any, *keys: str) -> None:
    """Press keys as a person would, on whatever has the focus."""
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:
        ActionChains(driver).send_keys(key).perform()


def press_and_wait(driver: Any, key: str) -> None:
    """Press a key that loads another page, and wait for it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    press(driver, key)
    WebDriverWait(driver, 10).until(expected_conditions.staleness_of(page))
    keys_ready(driver)


def active_id(driver: Any) -> str:
    return str(driver.execute_script("return document.activeElement.id || ''"))


def highlighted(driver: Any) -> list[str]:
    """The highlighted rows' case links, and which of them has the focus."""
    return list(
        driver.execute_script(
            """
            return Array.from(document.querySelectorAll("#result_list tr.ts-current"))
              .map((row) => row.querySelector("th a").textContent
                + (row.getAttribute("aria-selected") === "true" ? " selected" : "")
                + (document.activeElement === row.querySelector("th a") ? " focused" : ""));
            """
        )
    )


def row_links(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#result_list tbody th a")]


def overlay_keys(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    overlay = driver.find_element(By.ID, "ts-keys-help")
    assert overlay.is_displayed()
    return [kbd.text for kbd in overlay.find_elements(By.CSS_SELECTOR, "th kbd")]


def overlay_fits(driver: Any) -> bool:
    return bool(
        driver.execute_script(
            """
            const box = document.getElementById("ts-keys-help").getBoundingClientRect();
            return box.left >= 0 && box.right <= document.documentElement.clientWidth;
            """
        )
    )


def page_keys(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        k.get_attribute("data-key") for k in driver.find_elements(By.CSS_SELECTOR, "[data-key]")
    ]


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_keyboard_moves_in_the_queue_and_opens_a_case(
    browser: Any, live_server: Any, make_case: MakeCase, size: tuple[int, int]
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    ours = [make_case("flagged", external_id=f"keys-org-{n}") for n in (1, 2, 3)]
    make_case("flagged", external_id="other-org")
    browser.set_window_size(*size)
    log_in(browser, live_server.url, "analyst")
    keys_ready(browser)

    # / focuses the search box; a case's id finds that case.
    press(browser, "/")
    assert active_id(browser) == "searchbar"
    press(browser, f"#{ours[1].pk}")
    press_and_wait(browser, Keys.ENTER)
    assert row_links(browser) == [f"#{ours[1].pk}"]

    # / again selects what is in the box: typing replaces it.
    press(browser, "/")
    assert active_id(browser) == "searchbar"
    press(browser, "keys-org")
    press_and_wait(browser, Keys.ENTER)
    assert browser.find_element(By.ID, "searchbar").get_attribute("value") == "keys-org"
    links = row_links(browser)
    assert sorted(links) == sorted(f"#{c.pk}" for c in ours)

    # Typing in the box moves nothing; Escape leaves it.
    assert active_id(browser) != "searchbar"
    browser.find_element(By.ID, "searchbar").click()
    press(browser, "j")
    assert highlighted(browser) == []
    press(browser, Keys.ESCAPE)
    assert active_id(browser) == ""

    press(browser, "j")
    assert highlighted(browser) == [f"{links[0]} selected focused"]
    press(browser, "j")
    assert highlighted(browser) == [f"{links[1]} selected focused"]
    press(browser, "k")
    assert highlighted(browser) == [f"{links[0]} selected focused"]
    press(browser, "j", "j", "j", "j")  # stops at the last row
    assert highlighted(browser) == [f"{links[2]} selected focused"]
    press(browser, "k")
    assert highlighted(browser) == [f"{links[1]} selected focused"]

    # With Ctrl held the key is the browser's, not ours.
    ActionChains(browser).key_down(Keys.CONTROL).send_keys("j").key_up(Keys.CONTROL).perform()
    assert highlighted(browser) == [f"{links[1]} selected focused"]

    # x ticks the row for an action on the list.
    box = browser.find_elements(By.CSS_SELECTOR, "#result_list tbody input.action-select")[1]
    press(browser, "x")
    assert box.is_selected()
    press(browser, "x")
    assert not box.is_selected()

    # ? lists the list's keys, and the page still does not scroll sideways.
    press(browser, "?")
    assert overlay_keys(browser) == ["j", "k", "o", "Enter", "x", "/", "?", "Esc"]
    assert overlay_fits(browser)
    assert _overflow(browser) == 0
    press(browser, "j")  # nothing moves under the list of keys
    assert highlighted(browser) == [f"{links[1]} selected"]
    press(browser, Keys.ESCAPE)
    assert browser.find_elements(By.ID, "ts-keys-help") == []
    assert highlighted(browser) == [f"{links[1]} selected focused"]  # the focus comes back

    # o opens the highlighted case.
    press_and_wait(browser, "o")
    opened = next(c for c in ours if f"#{c.pk}" == links[1])
    assert f"/admin/cases/case/{opened.pk}/change/" in browser.current_url
    assert browser.find_element(By.ID, "ts-case")


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_the_case_page_has_a_key_for_each_allowed_action_and_none_for_an_auditor(
    browser: Any, live_server: Any, make_case: MakeCase, size: tuple[int, int]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    case = make_case("flagged")
    base = live_server.url
    browser.set_window_size(*size)
    log_in(browser, base, "analyst")
    browser.get(f"{base}/admin/cases/case/{case.pk}/change/")
    keys_ready(browser)
    hints = [k.text for k in browser.find_elements(By.CSS_SELECTOR, ".ts-kbd") if k.is_displayed()]

    # An analyst on a flagged case: suspend, dismiss, take, evidence, note.
    assert page_keys(browser) == ["s", "d", "a", "e", "n"]
    assert hints == ["s", "d", "a", "e", "n"]

    # s opens the suspend form in place and puts the cursor in its first field; nothing is sent.
    press(browser, "s")
    assert browser.find_element(By.ID, "ts-panel-suspend").get_attribute("open") is not None
    assert active_id(browser) == "id_suspend_reason"
    # While typing, the keys are letters: d is typed, the dismiss form stays closed.
    press(browser, "d")
    assert browser.find_element(By.ID, "id_suspend_reason").get_attribute("value") == "d"
    assert browser.find_element(By.ID, "ts-panel-dismiss").get_attribute("open") is None
    press(browser, Keys.ESCAPE)
    assert active_id(browser) == ""
    press(browser, "d")
    assert active_id(browser) == "id_dismiss_reason"
    press(browser, Keys.ESCAPE, "n")
    assert active_id(browser) == "id_body"
    press(browser, Keys.ESCAPE, "a")
    assert "ts-take" in (browser.switch_to.active_element.get_attribute("class") or "")

    press(browser, Keys.ESCAPE, "?")
    assert overlay_keys(browser) == ["s", "d", "a", "e", "n", "?", "Esc"]
    overlay = browser.find_element(By.ID, "ts-keys-help").text
    assert "Suspend" in overlay and "Dismiss" in overlay and "Add a note" in overlay
    assert overlay_fits(browser)
    assert _overflow(browser) == 0
    press(browser, "?")
    assert browser.find_elements(By.ID, "ts-keys-help") == []

    case.refresh_from_db()
    assert case.state == "flagged" and case.assignee_id is None  # no key submitted anything
    assert browser.current_url.endswith(f"/admin/cases/case/{case.pk}/change/")

    # An auditor reads only: no action key, s does nothing, the list has only ? and Esc.
    log_in(browser, base, "auditor")
    browser.get(f"{base}/admin/cases/case/{case.pk}/change/")
    keys_ready(browser)
    browser.implicitly_wait(0)

    assert page_keys(browser) == []
    press(browser, "s")
    assert browser.find_elements(By.ID, "ts-panel-suspend") == []
    assert active_id(browser) == ""
    press(browser, "?")
    assert overlay_keys(browser) == ["?", "Esc"]
    assert _overflow(browser) == 0
    assert Case.objects.get(pk=case.pk).state == "flagged"
