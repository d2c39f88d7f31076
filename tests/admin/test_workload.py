"""The workload per assignee: each person's open cases (in all, per open state, overdue, due
within 24 h, the oldest's age), the unassigned on a row of their own, each count linking to the
case list of exactly those cases; read by every staff role, changed by none; one grouped query
whatever the number of cases; a table that fits a 1366 px window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.admin.workload import WorkloadRow
from cases.models import Case
from cases.services import case_assign
from core.actors import Actor
from tests.admin.conftest import MakeCase
from tests.admin.test_browser import SIZES, _overflow, log_in
from tests.admin.test_browser import browser as browser  # the fixture
from tests.conftest import make_user

WORKLOAD = "/admin/cases/case/workload/"
# Session, user, the role's groups and permissions (for the page and its side bar), then the one
# grouped count of the table.
WORKLOAD_QUERIES = 6


def rows_of(response: Any) -> dict[str, WorkloadRow]:
    rows = {row.name: row for row in response.context["rows"]}
    rows["all"] = response.context["totals"]
    return rows


def counts(row: WorkloadRow) -> tuple[int, list[int], int, int]:
    return row.total.count, [c.count for c in row.states], row.overdue.count, row.due_soon.count


@pytest.fixture
def team(make_case: MakeCase, users: dict[str, User], actors: dict[str, Actor]) -> dict[str, Any]:
    """Open cases of the analyst (three, one overdue, one due soon, an old one) and of the
    investigator (one), two unassigned (one overdue); closed cases count for nobody."""

    def give(case: Case, role: str) -> Case:
        return case_assign(case=case, assignee=users[role], actor=actors["lead"])

    old = give(make_case("flagged", overdue=True), "analyst")
    Case.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3, hours=2))
    give(make_case("flagged", priority="critical"), "analyst")  # 4 h triage deadline: due soon
    give(make_case("investigated", priority="low"), "analyst")
    give(make_case("suspended"), "investigator")
    make_case("flagged", overdue=True)
    make_case("flagged", priority="low")
    give(make_case("flagged"), "lead")
    Case.objects.filter(assignee=users["lead"]).update(state="dismissed")  # closed: not counted
    return {"old": old}


def test_each_assignee_has_a_row_of_counts(login: Any, team: dict[str, Any]) -> None:
    client = login("lead")

    response = client.get(WORKLOAD)

    rows = rows_of(response)
    assert [row.name for row in response.context["rows"]] == [
        "Unassigned",
        "analyst",
        "investigator",
    ]
    # total, [flagged, suspended, investigated], overdue, due within 24 h
    assert counts(rows["Unassigned"]) == (2, [2, 0, 0], 1, 0)
    assert counts(rows["analyst"]) == (3, [2, 0, 1], 1, 1)
    assert counts(rows["investigator"]) == (1, [0, 1, 0], 0, 0)
    assert counts(rows["all"]) == (6, [4, 1, 1], 2, 1)
    assert rows["analyst"].oldest_age == "3 d 2 h"
    assert rows["all"].oldest_age == "3 d 2 h"
    html = response.content.decode()
    assert 'id="ts-workload-none"' in html and 'id="ts-workload-all"' in html
    assert "lead" not in [row.name for row in response.context["rows"]]


def test_every_count_lists_exactly_the_cases_it_counts(login: Any, team: dict[str, Any]) -> None:
    client = login("analyst")

    rows = rows_of(client.get(WORKLOAD))

    checked = 0
    for row in rows.values():
        for cell in (row.total, *row.states, row.overdue, row.due_soon):
            listed = client.get(cell.url)
            assert listed.status_code == 200, cell.url
            assert listed.context["cl"].result_count == cell.count, (row.name, cell.url)
            checked += 1
    assert checked == 4 * 6
    assert rows["analyst"].overdue.url == (
        f"/admin/cases/case/?queue=overdue&assignee={team['old'].assignee_id}"
    )
    assert rows["Unassigned"].total.url == "/admin/cases/case/?queue=open&assignee=none"


def test_the_assignee_filter_works_with_the_queues(
    login: Any, team: dict[str, Any], users: dict[str, User]
) -> None:
    client = login("investigator")
    analyst = users["analyst"].pk

    def listed(query: str) -> list[int]:
        response = client.get(f"/admin/cases/case/?{query}")
        assert response.status_code == 200, query
        return sorted(c.pk for c in response.context["cl"].result_list)

    assert listed(f"assignee={analyst}&queue=overdue") == [team["old"].pk]
    assert len(listed(f"assignee={analyst}")) == 3  # the default queue: open cases
    assert len(listed(f"assignee={analyst}&queue=all")) == 3
    assert len(listed(f"assignee={users['lead'].pk}&queue=all")) == 1  # the dismissed one
    assert listed(f"assignee={users['lead'].pk}") == []
    assert len(listed("assignee=none&queue=overdue")) == 1
    assert listed("assignee=someone") == [] and listed("assignee=99999") == []
    # The filter shows in the side bar while it is in use, with the person's name.
    page = client.get(f"/admin/cases/case/?assignee={analyst}").content.decode()
    assert "By assignee" in page and "analyst" in page
    assert "By assignee" not in client.get("/admin/cases/case/").content.decode()


@pytest.mark.parametrize("role", ["analyst", "investigator", "lead", "auditor"])
def test_every_role_reads_the_page_and_none_changes_anything(
    login: Any, team: dict[str, Any], role: str
) -> None:
    client = login(role)
    before = list(Case.objects.order_by("pk").values())

    page = client.get(WORKLOAD)
    posted = client.post(WORKLOAD, {"assignee": "1", "state": "dismissed"})

    assert page.status_code == 200
    assert posted.status_code == 405
    assert list(Case.objects.order_by("pk").values()) == before


def test_the_dashboard_and_the_case_list_link_to_the_page(login: Any) -> None:
    client = login("auditor")

    dashboard = client.get("/admin/").content.decode()
    case_list = client.get("/admin/cases/case/").content.decode()

    assert f'href="{WORKLOAD}" id="ts-workload-link"' in dashboard
    assert f'href="{WORKLOAD}" id="ts-workload-link"' in case_list


def grow(make_case: MakeCase, actors: dict[str, Actor], assignees: list[User], n: int) -> None:
    states = ["flagged", "suspended", "investigated", "dismissed"]
    for i in range(n):
        case = make_case(states[i % 4], priority=["low", "high"][i % 2], overdue=i % 3 == 0)
        if case.state != "dismissed" and i % 5:
            case_assign(case=case, assignee=assignees[i % len(assignees)], actor=actors["lead"])


def test_the_page_runs_one_grouped_query_whatever_the_number_of_cases(
    login: Any,
    make_case: MakeCase,
    actors: dict[str, Actor],
    users: dict[str, User],
    django_assert_num_queries: Any,
) -> None:
    client = login("lead")
    client.get(WORKLOAD)  # a warm connection
    grow(make_case, actors, [users["analyst"]], 4)
    with django_assert_num_queries(WORKLOAD_QUERIES):
        small = client.get(WORKLOAD)
    more = [users["analyst"], users["investigator"], make_user("investigator", "i2")]
    grow(make_case, actors, more, 40)

    with django_assert_num_queries(WORKLOAD_QUERIES) as captured:
        large = client.get(WORKLOAD)

    on_cases = [q["sql"] for q in captured.captured_queries if "cases_case" in q["sql"]]
    assert len(on_cases) == 1 and "GROUP BY" in on_cases[0]
    assert len(small.context["rows"]) == 2
    assert len(large.context["rows"]) == 4
    assert (
        large.context["totals"].total.count
        == Case.objects.filter(state__in=["flagged", "suspended", "investigated"]).count()
    )


def test_the_case_list_still_runs_the_same_queries_with_an_assignee(
    login: Any, team: dict[str, Any], users: dict[str, User]
) -> None:
    """The assignee filter costs the list one query, to name the person, and only while used."""
    client = login("analyst")
    client.get("/admin/cases/case/")

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    plain = queries("/admin/cases/case/?queue=overdue")
    assert queries(f"/admin/cases/case/?queue=overdue&assignee={users['analyst'].pk}") == plain + 1
    assert queries("/admin/cases/case/?queue=overdue&assignee=none") == plain


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_table_fits_a_1366_px_window(
    browser: Any, live_server: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    from selenium.webdriver.common.by import By

    long_names = [
        make_user("investigator", "investigator_with_a_rather_long_username_" + str(n))
        for n in range(3)
    ]
    grow(make_case, actors, long_names, 12)
    base = live_server.url
    log_in(browser, base, "lead")

    wide = []
    for size in SIZES:
        browser.set_window_size(*size)
        browser.get(f"{base}{WORKLOAD}")
        table = browser.find_element(By.ID, "ts-workload")
        assert "investigator_with_a_rather_long_username_0" in table.text
        if _overflow(browser) > 0:
            wide.append((size, _overflow(browser)))

    assert wide == []
