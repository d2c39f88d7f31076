"""The case page's keys (keys.js reads them from ``data-key``): one per action the role may take
now, none for an action it may not take or that is shown disabled."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cases.actions import Terminate
from cases.admin.case import ACTION_KEYS
from cases.services.approvals import case_act
from cases.workflow import ACTIONS
from tests.admin.conftest import MakeCase, change_url
from tests.admin.test_workbench_defects import _with_plan

# In the page's order: the transitions, take / reassign / priority, a legal hold, the plan's
# verification, evidence, a note.
EXPECTED_KEYS = {
    ("flagged", "analyst"): ["s", "d", "a", "e", "n"],
    ("flagged", "investigator"): ["s", "d", "a", "e", "n"],
    ("flagged", "lead"): ["s", "d", "a", "g", "p", "h", "e", "n"],
    ("flagged", "auditor"): [],
    ("suspended", "analyst"): ["a", "e", "n"],
    ("suspended", "investigator"): ["i", "a", "e", "n"],
    ("suspended", "auditor"): [],
    ("investigated", "investigator"): ["r", "d", "a", "e", "n"],
    ("investigated", "lead"): ["r", "t", "d", "a", "g", "p", "h", "e", "n"],
    ("investigated", "auditor"): [],
    ("dismissed", "analyst"): ["e", "n"],
    ("terminated", "lead"): ["h", "e", "n"],
}


def keys(html: str) -> list[str]:
    return re.findall(r' data-key="(.)"', html)


def transition_keys(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-action="(\w+)" data-key="(.)"', html))


def test_every_transition_has_its_own_key() -> None:
    assert sorted(ACTION_KEYS) == sorted(ACTIONS)
    assert len(set(ACTION_KEYS.values())) == len(ACTION_KEYS)


@pytest.mark.parametrize(("state", "role"), list(EXPECTED_KEYS))
def test_case_page_has_a_key_for_each_action_the_role_may_take(
    login: Any, make_case: MakeCase, state: str, role: str
) -> None:
    case = make_case(state)

    html = login(role).get(change_url(case)).content.decode()

    assert keys(html) == EXPECTED_KEYS[(state, role)]
    assert all(ACTION_KEYS[action] == key for action, key in transition_keys(html).items())
    assert html.count('<kbd class="ts-kbd">') == len(keys(html))


def test_auditor_gets_no_action_key_but_the_script_is_loaded(
    login: Any, make_case: MakeCase
) -> None:
    case = make_case("flagged")

    html = login("auditor").get(change_url(case)).content.decode()

    assert "data-key=" not in html
    assert "ts-kbd" not in html
    assert re.search(r'<script src="[^"]*cases/keys\.js" defer>', html)


def test_a_disabled_action_gets_no_key(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = _with_plan(make_case, actors, items=2)  # remediating waits for the plan

    html = login("investigator").get(change_url(case)).content.decode()

    assert 'data-action="remediate" aria-disabled="true"' in html
    assert transition_keys(html) == {"dismiss": "d"}
    assert "v" in keys(html)  # verifying the plan is what can be done now


def test_a_proposed_termination_gets_no_key_until_it_is_decided(
    login: Any, make_case: MakeCase, actors: dict[str, Any]
) -> None:
    case = make_case("investigated")
    case_act(case=case, command=Terminate(rationale="repeated"), actor=actors["lead"])

    html = login("lead").get(change_url(case)).content.decode()

    assert 'data-action="terminate" aria-disabled="true"' in html
    assert transition_keys(html) == {"remediate": "r", "dismiss": "d"}


def test_every_admin_page_loads_the_keyboard(login: Any, make_case: MakeCase) -> None:
    make_case("flagged")

    for page in ("/admin/", "/admin/cases/case/", "/admin/cases/caseevent/"):
        html = login("analyst").get(page).content.decode()
        assert re.search(r'<script src="[^"]*cases/keys\.js" defer>', html), page
