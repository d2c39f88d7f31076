"""The retention page: the periods in force (read-only), what the next purge would delete now,
what each active hold keeps and the last purges; for every role that reads the holds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from cases.models import Signal
from cases.services.holds import legal_hold_place
from cases.services.retention import purge_expired
from core.actors import Actor
from tests.admin.conftest import MakeCase

PAGE = "/admin/cases/legalhold/retention/"


def old_signal(account: Any, key: str) -> None:
    Signal.objects.create(
        account=account,
        kind="rate_limit_exceeded",
        severity="low",
        occurred_at=timezone.now(),
        received_at=timezone.now() - timedelta(days=400),
        source="gateway",
        dedupe_key=key,
    )


def test_the_page_shows_periods_due_counts_holds_and_purges(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    held = make_case("flagged").account
    free = make_case("flagged").account
    old_signal(held, "kept")
    old_signal(free, "due-1")
    old_signal(free, "due-2")
    hold = legal_hold_place(
        actor=actors["lead"],
        account=held,
        reason="Regulator's request",
        legal_reference="REQ-7",
        review_date=timezone.localdate() + timedelta(days=30),
    )
    purge_expired(now=timezone.now() - timedelta(days=300))  # nothing was due then

    page = login("auditor").get(PAGE).content.decode()

    assert "RETENTION_SIGNALS_DAYS" in page and "180 days" in page
    due = page.split("Signals that led to nothing", 1)[1].split("</tr>", 1)[0]
    assert '<td class="ts-due">2</td>' in due
    assert f"Hold #{hold.pk}</a>" in page and "signals that led to nothing: 1" in page
    assert "nothing was due" in page
    assert Signal.objects.count() == 3  # the page only counts


@pytest.mark.parametrize("role", ["analyst", "investigator", "lead", "auditor"])
def test_every_role_that_reads_cases_reads_it_and_the_holds_list_links_it(
    role: str, login: Any, db: Any
) -> None:
    client = login(role)
    assert client.get(PAGE).status_code == 200
    assert 'id="ts-retention-link"' in client.get("/admin/cases/legalhold/").content.decode()


def test_it_costs_the_same_queries_with_more_data(
    login: Any,
    make_case: MakeCase,
    actors: dict[str, Actor],
    django_assert_max_num_queries: Any,
) -> None:
    client = login("lead")
    for n in range(5):
        account = make_case("flagged").account
        old_signal(account, f"s{n}")
        legal_hold_place(
            actor=actors["lead"],
            account=account,
            reason="r",
            legal_reference=f"M-{n}",
            review_date=timezone.localdate() + timedelta(days=30),
        )
    # Per hold, one count per kind: bounded by the holds, never by the rows.
    with django_assert_max_num_queries(20 + 5 * 5):
        assert client.get(PAGE).status_code == 200
