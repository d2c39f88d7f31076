"""The admin's front page: counts per role that link to their queues, a chart of the last 30
days, the models grouped with the settings in full for leads and auditors only, in a fixed
number of queries (pinned at 1,000 cases)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account
from cases.actions import Suspend
from cases.choices import OPEN_STATES
from cases.models import Case, CaseEvent, Reminder
from cases.services import case_assign, case_transition
from tests.admin.conftest import POLICY, MakeCase
from tests.bulk import copy_cases

# Session, user, the role (groups, for the tiles, the settings and the sidebar), then five
# counts, the chart's three series, the two medians and the person's saved views.
DASHBOARD_QUERIES = 16


def tile(html: str, key: str) -> tuple[int, str]:
    found = re.search(
        rf'class="ts-tile[^"]*" id="ts-tile-{key}" href="([^"]+)">\s*'
        r'<span class="ts-tile-count">(\d+)</span>',
        html,
    )
    assert found is not None, key
    return int(found.group(2)), found.group(1).replace("&amp;", "&")


def test_the_counts_link_to_the_queues_that_list_them(
    login: Any, make_case: MakeCase, users: Any, actors: Any
) -> None:
    mine = make_case("flagged")
    case_assign(case=mine, assignee=users["analyst"], actor=actors["analyst"])
    make_case("suspended", overdue=True)
    make_case("dismissed")
    nobody = make_case("flagged")
    Account.objects.filter(pk=nobody.account_id).update(contacts=[])
    client = login("analyst")

    html = client.get("/admin/").content.decode()

    assert tile(html, "mine") == (1, "/admin/cases/case/?queue=mine")
    assert tile(html, "unassigned")[0] == 2
    assert tile(html, "overdue")[0] == 1
    assert tile(html, "open")[0] == 3
    assert tile(html, "contactless")[0] == 1
    assert tile(html, "approvals")[0] == 0
    for key in ("mine", "unassigned", "overdue", "open", "contactless", "appeals"):
        count, url = tile(html, key)
        listed = client.get(url)
        assert listed.status_code == 200, url
        assert listed.context["cl"].result_count == count, key


def test_the_chart_counts_the_last_30_days(login: Any, make_case: MakeCase) -> None:
    make_case("flagged")
    old = make_case("dismissed")
    Case.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=40), closed_at=timezone.now()
    )

    html = login("auditor").get("/admin/").content.decode()

    assert "Last 30 days: 1 case(s) opened, 1 closed, 0 deadline(s) breached" in html
    assert html.count('class="ts-bar-opened"') == 30


def test_the_medians_and_breaches_of_the_last_30_days(
    login: Any, make_case: MakeCase, actors: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = timezone.now()
    # Triaged after 1, 2 and 6 hours; one triaged 40 days ago does not count.
    for hours, triaged in ((1, now), (2, now), (6, now), (3, now - timedelta(days=40))):
        case = make_case("flagged")
        monkeypatch.setattr(timezone, "now", lambda at=triaged: at)
        case_transition(
            case=case.pk,
            command=Suspend(reason="Bulk extraction", policies=[POLICY]),
            actor=actors["analyst"],
        )
        monkeypatch.undo()
        Case.objects.filter(pk=case.pk).update(created_at=triaged - timedelta(hours=hours))
    assert CaseEvent.objects.filter(from_state="flagged", at__lt=now - timedelta(days=39)).exists()
    # Dismissed from flagged (triaged and decided at once) after 2 and 4 days: decided after
    # a median of 3 days; triaged after 1 h, 2 h, 6 h, 2 d and 4 d, a median of 6 h.
    for days in (2, 4):
        closed = make_case("dismissed")
        Case.objects.filter(pk=closed.pk).update(
            created_at=now - timedelta(days=days), closed_at=now
        )
    # Breached: a case's first escalation and an appeal's; a repeat escalation is no new breach.
    Reminder.objects.create(case=closed, deadline=now, kind="escalation", sent_at=now)
    Reminder.objects.create(case=closed, deadline=now, kind="escalation-2", sent_at=now)
    Reminder.objects.create(case=closed, deadline=now, kind="appeal:1:escalation", sent_at=now)
    Reminder.objects.create(case=closed, deadline=now, kind="reminder", sent_at=now)

    html = login("lead").get("/admin/").content.decode()

    medians = html[html.index('id="ts-medians"') : html.index("</dl>")]
    assert re.search(r"Median time to triage</dt><dd>6 h\b.*median of 5 cases", medians)
    assert re.search(r"Median time to decision</dt><dd>3 d\b.*median of 2 cases", medians)
    assert "2 deadline(s) breached" in html
    assert f"{now:%Y-%m-%d}: 2 deadline(s) breached" in html


def test_the_medians_say_so_when_no_case_was_triaged(login: Any) -> None:
    html = login("analyst").get("/admin/").content.decode()

    assert 'Median time to triage</dt><dd>— <span class="help">(no case in the period)' in html


def test_settings_are_shown_in_full_to_leads_and_auditors_only(login: Any) -> None:
    analyst = login("analyst").get("/admin/").content.decode()
    lead = login("lead").get("/admin/").content.decode()
    auditor = login("auditor").get("/admin/").content.decode()

    for html in (analyst, lead, auditor):
        assert 'id="ts-section-work"' in html and 'id="ts-section-settings"' in html
        assert "/admin/cases/flagrule/" in html
    assert "Crontabs" not in analyst and "Intervals" not in analyst
    assert "/admin/django_celery_beat/crontabschedule/" not in analyst
    for html in (lead, auditor):
        assert "/admin/django_celery_beat/crontabschedule/" in html
    # Still reachable by URL: analysts read the schedule, they only do not have it in view.
    assert login("analyst").get("/admin/django_celery_beat/crontabschedule/").status_code == 200


def test_an_auditor_has_no_queue_of_their_own(login: Any) -> None:
    html = login("auditor").get("/admin/").content.decode()

    assert 'id="ts-tile-mine"' not in html
    assert 'id="ts-tile-open"' in html


def _bulk_cases(n: int) -> None:
    """``n`` open cases of as many accounts, written directly (the count is what matters)."""
    now = timezone.now()
    accounts = Account.objects.bulk_create(
        Account(external_id=f"bulk-{i:05d}", name=f"Bulk {i}", contacts=[] if i % 7 else ["a@b.c"])
        for i in range(n)
    )
    Case.objects.bulk_create(
        Case(
            account=account,
            summary="bulk",
            state=["flagged", "suspended", "investigated"][i % 3],
            review_deadline=now + timedelta(hours=(i % 48) - 12),
            created_at=now - timedelta(days=i % 40),
        )
        for i, account in enumerate(accounts)
    )


def test_the_dashboard_runs_a_fixed_number_of_queries_at_1000_cases(login: Any) -> None:
    client = login("lead")
    client.get("/admin/")  # a warm connection
    with CaptureQueriesContext(connection) as few:
        client.get("/admin/")
    _bulk_cases(1000)

    with CaptureQueriesContext(connection) as many:
        html = client.get("/admin/").content.decode()

    assert tile(html, "open")[0] == 1000
    assert len(many) == len(few) == DASHBOARD_QUERIES, [q["sql"][:80] for q in many]


def test_the_dashboard_runs_the_same_queries_at_a_million_cases(
    login: Any, require_postgres: None
) -> None:
    client = login("lead")
    _bulk_cases(1000)
    with CaptureQueriesContext(connection) as few:
        client.get("/admin/")
    copy_cases(
        Case.objects.get(account__external_id="bulk-00000"),
        1_000_000,
        prefix="million-",
        case_sql={
            "state": "CASE WHEN a.id %% 4 = 0 THEN 'dismissed' ELSE "
            "(ARRAY['flagged', 'suspended', 'investigated'])[a.id %% 3 + 1] END",
            "closed_at": "CASE WHEN a.id %% 4 = 0 THEN now() - (a.id %% 40) * interval '1 day' END",
            "review_deadline": "now() + ((a.id %% 48) - 12) * interval '1 hour'",
            "created_at": "now() - (a.id %% 40) * interval '1 day'",
        },
    )
    assert Case.objects.count() == 1_001_000

    with CaptureQueriesContext(connection) as many:
        html = client.get("/admin/").content.decode()

    assert len(many) == len(few) == DASHBOARD_QUERIES, [q["sql"][:80] for q in many]
    assert tile(html, "open")[0] == Case.objects.filter(state__in=OPEN_STATES).count()
