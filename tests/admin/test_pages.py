"""Every admin page a T&S team uses opens, for the role that uses it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.admin.conftest import MakeCase, change_url, transition_url

LIST_PAGES = [
    "/admin/",
    "/admin/accounts/account/",
    "/admin/accounts/partner/",
    "/admin/cases/case/",
    "/admin/cases/caseevent/",
    "/admin/cases/casenote/",
    "/admin/cases/enforcementchange/",
    "/admin/cases/evidencereference/",
    "/admin/cases/flagrule/",
    "/admin/cases/incident/",
    "/admin/cases/policyclause/",
    "/admin/cases/policyversion/",
    "/admin/cases/remediationplan/",
    "/admin/cases/reminder/",
    "/admin/cases/reviewdeadlinerule/",
    "/admin/cases/signal/",
    "/admin/notifications/notice/",
    "/admin/notifications/deliveryattempt/",
    "/admin/notifications/webhookendpoint/",
    "/admin/django_celery_beat/periodictask/",
    "/admin/django_celery_beat/intervalschedule/",
    "/admin/django_celery_beat/crontabschedule/",
]


@pytest.mark.parametrize("role", ["analyst", "investigator", "lead", "auditor"])
@pytest.mark.parametrize("url", LIST_PAGES)
def test_every_list_page_opens_for_every_role(login: Any, role: str, url: str) -> None:
    assert login(role).get(url).status_code == 200


def test_site_is_branded_for_trust_and_safety(login: Any) -> None:
    response = login("auditor").get("/admin/")

    assert b"Trust &amp; Safety cases" in response.content


def test_case_account_and_policy_pages_open(
    login: Any, make_case: MakeCase, policies: dict[str, Any]
) -> None:
    case = make_case("investigated")
    client = login("lead")

    for url in (
        change_url(case),
        f"/admin/accounts/account/{case.account_id}/change/",
        f"/admin/cases/policyclause/{policies['rate-limit-evasion'].pk}/change/",
        "/admin/cases/case/add/",
        "/admin/notifications/webhookendpoint/add/",
        transition_url(case, "terminate"),
    ):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize(
    "url",
    [
        "/admin/cases/caseevent/?q=not-a-number",
        "/admin/cases/caseevent/?action=suspend",
        "/admin/notifications/notice/?event=suspension",
        "/admin/cases/signal/?q=acct-0001",
        "/admin/cases/casenote/?q=12",
    ],
)
def test_searches_and_filters_of_read_only_lists_answer(
    login: Any, make_case: MakeCase, url: str
) -> None:
    make_case("suspended")

    assert login("auditor").get(url).status_code == 200


def test_event_filter_lists_fixed_choices_and_filters(login: Any, make_case: MakeCase) -> None:
    case = make_case("suspended")

    response = login("auditor").get("/admin/cases/caseevent/?action=suspend")

    rows = response.context["cl"].result_list
    assert [(e.case_id, e.action) for e in rows] == [(case.pk, "suspend")]
