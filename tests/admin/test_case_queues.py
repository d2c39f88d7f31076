"""The case list: queues with counts, urgent-first ordering, highlighting and search."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Account, Channel, Partner
from cases.models import Case
from cases.services import case_assign
from core.actors import Actor
from tests.admin.conftest import MakeCase


def listed(response: Any) -> list[int]:
    return [
        int(pk)
        for pk in re.findall(r'href="/admin/cases/case/(\d+)/change/', response.content.decode())
    ]


def test_queues_filter_and_count(
    login: Any, make_case: MakeCase, actors: dict[str, Actor], users: dict[str, User]
) -> None:
    overdue = make_case("flagged", overdue=True)
    mine = make_case("suspended")
    case_assign(case=mine, assignee=users["analyst"], actor=actors["analyst"])
    soon = make_case("flagged", priority="critical")  # 4 h triage deadline: due soon
    later = make_case("flagged", priority="low")
    closed = make_case("dismissed")
    client = login("analyst")

    page = client.get("/admin/cases/case/").content.decode()
    queues = {
        name: listed(client.get(f"/admin/cases/case/?queue={name}"))
        for name in ("mine", "unassigned", "overdue", "due_soon", "open")
    }

    assert "My cases (1)" in page
    assert "Unassigned (3)" in page
    assert "Overdue (1)" in page
    assert "Due within 24 h (1)" in page
    assert "All open (4)" in page
    # Closed states are listed without a count: counting them reads most of a growing table.
    assert "Dismissed (" not in page and ">Dismissed<" in page
    assert queues["mine"] == [mine.pk]
    assert sorted(queues["unassigned"]) == sorted([overdue.pk, soon.pk, later.pk])
    assert queues["overdue"] == [overdue.pk]
    assert queues["due_soon"] == [soon.pk]
    assert closed.pk not in queues["open"]


def test_state_and_priority_filters(login: Any, make_case: MakeCase) -> None:
    flagged = make_case("flagged", priority="high")
    suspended = make_case("suspended", priority="high")
    dismissed = make_case("dismissed", priority="high")
    client = login("auditor")

    by_state = listed(client.get("/admin/cases/case/?state=suspended"))
    by_priority = listed(client.get("/admin/cases/case/?priority=high"))
    closed = listed(client.get("/admin/cases/case/?queue=all&state=dismissed"))

    assert by_state == [suspended.pk]
    assert sorted(by_priority) == sorted([flagged.pk, suspended.pk])
    assert closed == [dismissed.pk]


def test_most_urgent_first_overdue_then_deadline_then_priority(
    login: Any, make_case: MakeCase
) -> None:
    closed = make_case("dismissed")
    low = make_case("flagged", priority="low")  # due in 7 days
    critical = make_case("flagged", priority="critical")  # due in 4 hours
    overdue = make_case("flagged", priority="medium", overdue=True)
    tie = timezone.now() + timedelta(days=2)
    tie_low, tie_high = make_case("flagged", priority="low"), make_case("flagged", priority="high")
    Case.objects.filter(pk__in=[tie_low.pk, tie_high.pk]).update(review_deadline=tie)

    client = login("analyst")
    default = listed(client.get("/admin/cases/case/"))
    everything = listed(client.get("/admin/cases/case/?queue=all"))

    assert default == [overdue.pk, critical.pk, tie_high.pk, tie_low.pk, low.pk]
    assert everything == [*default, closed.pk]


def test_overdue_and_due_soon_deadlines_stand_out(login: Any, make_case: MakeCase) -> None:
    make_case("flagged", overdue=True)
    make_case("flagged", priority="critical")

    html = login("analyst").get("/admin/cases/case/").content.decode()

    assert re.search(r'class="ts-overdue"[^>]*>overdue by', html)
    assert re.search(r'class="ts-due-soon"[^>]*>due in', html)


def test_columns_show_account_state_priority_assignee_and_policies(
    login: Any, make_case: MakeCase
) -> None:
    make_case("suspended", external_id="acme-ai-2", priority="high")

    html = login("analyst").get("/admin/cases/case/").content.decode()

    for text in ("acme-ai-2", "Suspended", "High", "competing-model-development"):
        assert text in html


def test_search_by_external_id_or_name(login: Any, make_case: MakeCase) -> None:
    wanted = make_case("flagged", external_id="org-ZX81")
    make_case("flagged", external_id="org-other")
    client = login("analyst")

    by_id = listed(client.get("/admin/cases/case/?q=org-ZX81"))
    by_prefix = listed(client.get("/admin/cases/case/?q=org-zx"))
    by_name = listed(client.get(f"/admin/cases/case/?q={wanted.account.name}"))

    assert by_id == [wanted.pk]
    assert by_prefix == [wanted.pk]
    assert by_name == [wanted.pk]


def test_list_does_not_count_the_whole_table_twice(login: Any, make_case: MakeCase) -> None:
    make_case("flagged")

    response = login("analyst").get("/admin/cases/case/?queue=open")

    assert response.context["cl"].show_full_result_count is False
    assert response.context["cl"].full_result_count is None


def test_search_finds_a_case_by_id_contact_domain_and_partner(
    login: Any, make_case: MakeCase
) -> None:
    wanted = make_case("flagged", external_id="org-wanted")
    other = make_case("flagged", external_id="org-other")
    Account.objects.filter(pk=wanted.account_id).update(contacts=["Legal@Wanted-Corp.test"])
    partner = Partner.objects.create(code="resellco", name="ResellCo", kind="reseller")
    Channel.objects.create(account=wanted.account, partner=partner)
    client = login("analyst")

    def found(term: str) -> list[int]:
        return listed(client.get("/admin/cases/case/", {"q": term}))

    assert found(f"#{wanted.pk}") == [wanted.pk]
    assert wanted.pk in found(str(wanted.pk))
    assert found(f"#{other.pk}") == [other.pk]
    assert found("legal@wanted-corp.test") == [wanted.pk]
    assert found("wanted-corp.test") == [wanted.pk]
    assert found("@wanted-corp.test") == [wanted.pk]
    assert found("resellco") == [wanted.pk]
    assert found("RESELLCO") == [wanted.pk]
    assert found("#999999") == []
    assert found("nobody.example") == []


def test_the_queue_shows_age_signals_tier_and_partners(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    from cases.models import Incident

    case = make_case("flagged")
    Case.objects.filter(pk=case.pk).update(created_at=timezone.now() - timedelta(days=2, hours=3))
    Account.objects.filter(pk=case.account_id).update(tier="enterprise", direct=True)
    partner = Partner.objects.create(code="cloudco", name="CloudCo", kind="cloud")
    Channel.objects.create(account=case.account, partner=partner)
    for n in (3, 4):
        now = timezone.now()
        Incident.objects.create(
            account=case.account,
            case=case,
            kind="k",
            severity="high",
            signal_count=n,
            first_seen=now,
            last_seen=now,
        )

    html = login("analyst").get("/admin/cases/case/").content.decode()

    row = html[html.index(f">#{case.pk}<") :]
    row = row[: row.index("</tr>")]
    assert '<td class="field-age_label"><span title="opened ' in row and ">2 d 3 h<" in row
    assert '<td class="field-signals_label">7</td>' in row
    assert '<td class="field-tier_label">Enterprise</td>' in row
    assert '<td class="field-partners_label">direct, cloudco</td>' in row
