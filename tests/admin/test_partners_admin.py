"""The partners' follow-up in the admin: the partners' table on the case and account pages, the
Partners queue (overdue by default), a partner's page with its endpoints' health, who may see
them, and the queries they take."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, Channel, Partner
from cases.actions import Suspend
from cases.models import Case
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.models import DeliveryAttempt, Notice, Propagation, WebhookEndpoint
from notifications.propagations import (
    propagation_acknowledge,
    propagation_report,
    propagations_delivered,
)
from tests.cases.deadline_helpers import frozen

from .conftest import POLICY, change_url

QUEUE = "/admin/notifications/propagation/"
STATES = ("pending", "delivered", "acknowledged", "applied", "declined", "undeliverable")


def listed(response: Any) -> str:
    """The rows of a changelist (its sidebar names every partner)."""
    page = response.content.decode()
    if 'id="result_list"' not in page:
        return ""
    rows = page[page.index('id="result_list"') :]
    return rows[: rows.index("</table>")]


def endpoint(partner: Partner, url: str, **fields: Any) -> WebhookEndpoint:
    """A row as the services leave it (the URL checks are not what is tested here)."""
    return WebhookEndpoint.objects.create(
        partner=partner, url=url, event_types=["enforcement.suspended"], secret="s", **fields
    )


def suspended_through(codes: list[str], actors: dict[str, Actor], name: str = "acme") -> Case:
    """An account reaching the API through a partner per code, each with an endpoint except
    ``p-undeliverable``; suspended."""
    account = Account.objects.create(external_id=name, name=name.title(), contacts=["o@x.test"])
    for code in codes:
        partner = Partner.objects.create(code=code, name=code.upper())
        Channel.objects.create(account=account, partner=partner)
        if code != "p-undeliverable":
            endpoint(partner, f"https://hooks.example/{code}")
    case = case_open(account=account, summary="distillation", actor=actors["analyst"])
    return case_transition(
        case=case, command=Suspend(reason="abuse", policies=[POLICY]), actor=actors["analyst"]
    )


@pytest.fixture
def every_state(db: Any, actors: dict[str, Actor], policies: Any) -> Case:
    """A case whose suspension six partners follow, one in each state; the acknowledgements
    and reports come 3 h 12 min and 2 days after it was made, and all but the reported ones
    are overdue for their acknowledgement."""
    case = suspended_through([f"p-{s}" for s in STATES], actors)
    by = {
        p.partner.code: p for p in Propagation.objects.filter(case=case).select_related("partner")
    }
    made = by["p-pending"].created_at
    propagations_delivered(
        ids=[by[c].pk for c in ("p-delivered", "p-acknowledged", "p-applied", "p-declined")],
        at=made + timedelta(minutes=5),
    )
    seq = by["p-pending"].change.seq
    with frozen(made + timedelta(hours=3, minutes=12)):
        for code in ("p-acknowledged", "p-applied", "p-declined"):
            propagation_acknowledge(partner=by[code].partner, seq=seq)
    with frozen(made + timedelta(days=2)):
        propagation_report(
            partner=by["p-applied"].partner,
            seq=seq,
            outcome="applied",
            reference="CC-4411",
            note="Keys revoked.",
        )
        propagation_report(
            partner=by["p-declined"].partner, seq=seq, outcome="declined", note="Not ours."
        )
    # Made long enough ago that the unacknowledged ones owe their acknowledgement (a test may
    # move a time; nothing in the product does).
    Propagation.objects.filter(case=case).update(created_at=made - timedelta(hours=30))
    return case


def test_the_case_page_shows_each_partner_in_every_state(login: Any, every_state: Case) -> None:
    page = login("auditor").get(change_url(every_state)).content.decode()

    table = page[page.index('id="ts-partners"') :]
    table = table[: table.index("</fieldset>")]
    for state in STATES:
        assert f"p-{state}" in table
        assert f"ts-propagation-{state}" in table
    assert "ref. <code>CC-4411</code>" in table and "Keys revoked." in table
    assert "Not ours." in table
    # How long each step took, from when the propagation was made, in words.
    assert "after 30 h" not in table  # never "1 day, 6:00:00"-like either
    assert "after 1 d 9 h" in table  # acknowledged 3 h 12 min after the (moved) creation
    assert "after 3 d 6 h" in table  # reported two days after
    assert "no active webhook endpoint" in table
    assert table.count("acknowledgement overdue") == 3  # pending, delivered, undeliverable
    assert "report overdue" not in table  # PARTNER_REPORT_DAYS has not passed


def test_the_durations_read_as_people_write_them(
    login: Any, db: Any, actors: dict[str, Actor], policies: Any
) -> None:
    case = suspended_through(["p-one"], actors)
    propagation = Propagation.objects.get(case=case)
    with frozen(propagation.created_at + timedelta(hours=3, minutes=12, seconds=9)):
        propagation_acknowledge(partner=propagation.partner, seq=propagation.change.seq)
    page = login("analyst").get(change_url(case)).content.decode()
    assert "after 3 h 12 min" in page
    assert "0:00" not in page[page.index('id="ts-partners"') :][:4000]


def test_the_account_page_shows_the_same_table(login: Any, every_state: Case) -> None:
    url = reverse("admin:accounts_account_change", args=[every_state.account_id])
    page = login("analyst").get(url).content.decode()
    assert 'id="ts-partners"' in page
    for state in STATES:
        assert f"ts-propagation-{state}" in page
    assert "ref. <code>CC-4411</code>" in page


def test_a_case_without_partners_says_so(login: Any, make_case: Any) -> None:
    page = login("analyst").get(change_url(make_case("suspended"))).content.decode()
    assert "No partner follows these changes." in page


def test_the_queue_lists_only_the_overdue_by_default_oldest_first(
    login: Any, every_state: Case, actors: dict[str, Actor]
) -> None:
    fresh = suspended_through(["p-fresh"], actors, name="fresh")  # made now: not overdue
    client = login("investigator")

    response = client.get(QUEUE)
    rows = listed(response)
    for code in ("p-pending", "p-delivered", "p-undeliverable"):
        assert code in rows
    for code in ("p-acknowledged", "p-applied", "p-declined", "p-fresh"):
        assert code not in rows
    page = response.content.decode()
    assert "Overdue (3)" in page and "Acknowledgement overdue (3)" in page
    assert f"/admin/cases/case/{every_state.pk}/change/" in rows  # links to case and account
    assert f"/admin/accounts/account/{every_state.account_id}/change/" in rows
    # Oldest first: the fresh one comes after the overdue ones when everything is listed.
    everything = listed(client.get(QUEUE, {"follow_up": "all"}))
    assert everything.index("p-pending") < everything.index("p-fresh")
    for code in ("p-applied", "p-fresh"):
        assert code in everything
    assert "p-fresh" in listed(client.get(QUEUE, {"follow_up": "open"}))
    only = listed(client.get(QUEUE, {"follow_up": "undeliverable"}))
    assert "p-undeliverable" in only and "p-pending" not in only
    assert Propagation.objects.filter(case=fresh).count() == 1


def test_the_report_overdue_view(login: Any, every_state: Case) -> None:
    Propagation.objects.filter(partner__code="p-acknowledged").update(
        created_at=timezone.now() - timedelta(days=8)
    )
    rows = listed(login("lead").get(QUEUE, {"follow_up": "overdue_report"}))
    assert "p-acknowledged" in rows and "report overdue" in rows
    assert "p-pending" not in rows and "p-applied" not in rows


@pytest.mark.parametrize(
    "query",
    [
        {"follow_up": "bogus"},
        {"state": "nonsense"},
        {"partner__id__exact": "abc"},
        {"partner__id__exact": "99999999999999999999999"},
        {"o": "99"},
        {"q": "x" * 500},
        {"p": "-1"},
    ],
)
def test_bad_filter_values_are_no_500(login: Any, every_state: Case, query: dict[str, str]) -> None:
    response = login("analyst").get(QUEUE, query)
    assert response.status_code in (200, 302)


@pytest.mark.parametrize("role", ["analyst", "investigator", "lead", "auditor"])
def test_every_role_that_reads_cases_views_propagations(
    login: Any, every_state: Case, role: str
) -> None:
    client = login(role)
    assert client.get(QUEUE).status_code == 200
    propagation = Propagation.objects.filter(case=every_state).first()
    assert propagation is not None
    page = client.get(f"{QUEUE}{propagation.pk}/change/")
    assert page.status_code == 200
    assert b"Save" not in page.content  # read-only: no form to save


def test_staff_without_a_role_see_no_propagations(client: Any, every_state: Case) -> None:
    from tests.conftest import make_user

    client.force_login(make_user(None, "nobody"))
    assert client.get(QUEUE).status_code == 403


def partner_url(partner: Partner) -> str:
    return reverse("admin:accounts_partner_change", args=[partner.pk])


def test_the_partner_page_shows_its_endpoints_health(
    login: Any, db: Any, actors: dict[str, Actor], policies: Any
) -> None:
    case = suspended_through(["cloudco"], actors)
    partner = Partner.objects.get(code="cloudco")
    live = WebhookEndpoint.objects.get(partner=partner)
    gone = endpoint(
        partner,
        "https://old.cloudco.example/hooks",
        active=False,
        disabled_at=timezone.now(),
        disabled_reason="the receiver answered HTTP 410 Gone",
    )
    [notice] = Notice.objects.filter(endpoint=live)
    ok_at = timezone.now() - timedelta(hours=2)
    DeliveryAttempt.objects.create(notice=notice, succeeded=True, status_code=200, at=ok_at)
    DeliveryAttempt.objects.create(notice=notice, status_code=500, error="boom")
    DeliveryAttempt.objects.create(
        notice=notice, status_code=500, at=timezone.now() - timedelta(days=3)
    )
    old = Notice.objects.create(
        channel="webhook", event="enforcement.suspended", recipient=gone.url, endpoint=gone
    )
    Notice.objects.filter(pk=old.pk).update(status="stopped")
    DeliveryAttempt.objects.create(notice=old, status_code=410, error="gone")

    page = login("lead").get(partner_url(partner)).content.decode()

    rows = page[page.index('class="ts-endpoints"') :]
    live_row = rows[rows.index(live.url) :].split("</tr>")[0]
    gone_row = rows[rows.index(gone.url) :].split("</tr>")[0]
    assert "<td>active</td>" in live_row
    assert f"{ok_at:%Y-%m-%d %H:%M} UTC" in live_row
    assert "<td>1</td>" in live_row  # one failed attempt in 24 h, the older one not counted
    assert "0 failed, 0 stopped" in live_row
    assert "disabled" in gone_row and "410 Gone" in gone_row
    assert "never" in gone_row
    assert "0 failed, 1 stopped" in gone_row
    assert "1 not reported" in page
    assert 'name="contact_email"' in page
    assert Propagation.objects.filter(case=case).count() == 1


def test_the_partner_page_reads_in_a_constant_number_of_queries(
    login: Any, db: Any, actors: dict[str, Actor], policies: Any
) -> None:
    suspended_through(["cloudco"], actors)
    partner = Partner.objects.get(code="cloudco")
    client = login("lead")

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(partner_url(partner)).status_code == 200
        return len(captured)

    one = count()
    for n in range(6):
        e = endpoint(partner, f"https://hooks.example/more-{n}")
        notice = Notice.objects.create(
            channel="webhook", event="enforcement.suspended", recipient=e.url, endpoint=e
        )
        DeliveryAttempt.objects.create(notice=notice, succeeded=True, status_code=200)
        DeliveryAttempt.objects.create(notice=notice, status_code=500)
    assert count() == one


def test_the_case_page_and_the_queue_take_as_many_queries_for_many_partners(
    login: Any, db: Any, actors: dict[str, Actor], policies: Any
) -> None:
    few = suspended_through(["p-a"], actors, name="few")
    many = suspended_through([f"p-{n}" for n in range(8)], actors, name="many")
    client = login("lead")

    def count(url: str, **query: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url, query).status_code == 200
        return len(captured)

    assert count(change_url(few)) == count(change_url(many))
    before = count(QUEUE, follow_up="all")
    suspended_through([f"q-{n}" for n in range(8)], actors, name="more")
    assert count(QUEUE, follow_up="all") == before


def test_a_lead_sets_a_partners_contact_address_through_the_service(login: Any, db: Any) -> None:
    partner = Partner.objects.create(code="cloudco", name="CloudCo")
    client = login("lead")
    data = {"name": "CloudCo", "kind": "cloud", "contact_email": "tns@cloudco.test"}
    assert client.post(partner_url(partner), data).status_code == 302
    partner.refresh_from_db()
    assert partner.contact_email == "tns@cloudco.test"
    refused = client.post(partner_url(partner), {**data, "contact_email": "not an address"})
    assert refused.status_code == 200  # the form again, with its error
    partner.refresh_from_db()
    assert partner.contact_email == "tns@cloudco.test"
