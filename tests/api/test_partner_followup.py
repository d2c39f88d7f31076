"""Partners follow suit, followed up (partners.md "Follow-up"): the acceptance story over the
API and the sweep with a test clock, and the partner's contact address over the API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from accounts.models import Account, Channel, Partner
from accounts.services import partner_upsert
from cases.deadlines import deadlines_sweep
from cases.models import Case, EnforcementChange
from cases.services import case_assign
from core.actors import Actor
from notifications.models import Notice, Propagation
from tests.notifications.conftest import Receiver, drain, make_endpoint, serving

from .conftest import ApiCaller, problem

SUSPENDED = "enforcement.suspended"
ACK, REPORT = timedelta(hours=24), timedelta(days=7)
FOLLOW_UP = ("partner.ack_reminder", "partner.report_reminder", "partner.overdue")


@pytest.fixture(autouse=True)
def loopback_receivers(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.NOTICE_RETRY_SCHEDULE = [0.05, 0.05]
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 1
    settings.PARTNER_ACK_HOURS = ACK
    settings.PARTNER_REPORT_DAYS = REPORT


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with serving() as one, serving() as two:
        yield one, two


@pytest.fixture
def story(db: Any, policies: Any, receivers: tuple[Receiver, Receiver]) -> dict[str, Any]:
    """An account reaching the API directly and through two partners, each with an endpoint
    and a contact address."""
    cloudco, _ = partner_upsert(code="cloudco", name="CloudCo", contact_email="tns@cloudco.test")
    resell, _ = partner_upsert(
        code="resell", name="Resell Ltd", kind="reseller", contact_email="abuse@resell.test"
    )
    account = Account.objects.create(
        external_id="acme-ai", name="Acme AI", contacts=["legal@acme.test"], direct=True
    )
    Channel.objects.create(account=account, partner=cloudco)
    Channel.objects.create(account=account, partner=resell)
    for receiver, partner in zip(receivers, (cloudco, resell), strict=True):
        _, receiver.secret = make_endpoint(receiver.url, partner, [SUSPENDED])
    return {"cloudco": cloudco, "resell": resell, "account": account}


def follow_up_notices(**filters: Any) -> list[Notice]:
    return list(
        Notice.objects.filter(event__in=FOLLOW_UP, **filters).order_by("event", "recipient")
    )


def test_the_silent_partner_is_reminded_then_staff_are_told_once(
    story: dict[str, Any],
    users: dict[str, User],
    actors: dict[str, Actor],
    api: ApiCaller,
    make_caller: Callable[..., ApiCaller],
    capsys: Any,
) -> None:
    # Given a suspension of the account, told to both partners, on an assigned case.
    case_id = api.post("/cases", {"account": "acme-ai", "summary": "Distillation"}).json()["id"]
    investigator = users["investigator"]
    investigator.first_name, investigator.last_name = "Ines", "Vestigator"
    investigator.save()
    case_assign(case=case_id, assignee=investigator, actor=actors["lead"])
    response = api.post(
        f"/cases/{case_id}/transitions",
        {"action": "suspend", "reason": "Outputs used", "policies": ["rate-limit-evasion"]},
    )
    assert response.status_code == 200, response.content
    change = EnforcementChange.objects.get(case_id=case_id)
    for notice in Notice.objects.filter(channel="webhook"):
        drain(notice)
    # CloudCo acknowledges and reports it applied; Resell never answers.
    cloudco = make_caller(partner="cloudco")
    assert cloudco.post(f"/partner/changes/{change.seq}/acknowledge").status_code == 200
    reported = cloudco.post(
        f"/partner/changes/{change.seq}/report", {"outcome": "applied", "reference": "CC-1"}
    )
    assert reported.status_code == 201, reported.content
    silent = Propagation.objects.get(change=change, partner__code="resell")
    assert silent.state == "delivered"
    made = silent.created_at

    # Within PARTNER_ACK_HOURS nobody is told anything.
    assert deadlines_sweep(now=made + ACK - timedelta(minutes=1)).notices == 0
    assert follow_up_notices() == []

    # After it, the silent partner's contact is reminded, by e-mail naming the change.
    result = deadlines_sweep(now=made + ACK + timedelta(minutes=1))
    assert (result.partner_reminders, result.partner_escalations, result.notices) == (1, 0, 1)
    [reminder] = follow_up_notices()
    assert (reminder.event, reminder.channel, reminder.recipient) == (
        "partner.ack_reminder",
        "email",
        "abuse@resell.test",
    )
    assert (reminder.case_id, reminder.account_id) == (case_id, story["account"].pk)
    for text in (reminder.subject, reminder.body_text, reminder.body_html):
        assert str(change.seq) in text
        assert "acme-ai" in text
        assert "suspended" in text
    for text in (reminder.body_text, reminder.body_html):
        assert f"/api/v1/partner/changes/{change.seq}/acknowledge" in text
        assert f"/api/v1/partner/changes/{change.seq}/report" in text
        assert "Ines" not in text and investigator.username not in text  # no staff name
    silent.refresh_from_db()
    assert silent.ack_reminded_at == made + ACK + timedelta(minutes=1)
    assert silent.ack_escalated_at is None
    # Running the sweep again sends nothing more.
    assert deadlines_sweep(now=made + ACK + timedelta(minutes=2)).notices == 0

    # After twice that, the assignee and the leads are told (the command, with --now).
    at = made + 2 * ACK + timedelta(minutes=1)
    call_command("sweep_deadlines", "--now", at.isoformat())
    call_command("sweep_deadlines", "--now", (at + timedelta(hours=1)).isoformat())
    first, again = capsys.readouterr().out.splitlines()
    assert "0 partner reminder(s), 1 partner escalation(s), 2 notice(s)" in first
    assert "0 partner reminder(s), 0 partner escalation(s), 0 notice(s)" in again
    overdue = follow_up_notices(event="partner.overdue")
    assert sorted(n.recipient for n in overdue) == sorted([investigator.email, users["lead"].email])
    assert {(n.channel, n.case_id) for n in overdue} == {("staff", case_id)}
    to_assignee = next(n for n in overdue if n.recipient == investigator.email)
    assert "Hello Ines Vestigator" in to_assignee.body_text
    assert f"/admin/cases/case/{case_id}/change/" in to_assignee.body_text
    assert "abuse@resell.test was reminded" in to_assignee.body_text
    assert "resell" in to_assignee.subject and "acknowledged" in to_assignee.subject
    # The partner that reported is never followed up.
    assert Notice.objects.filter(recipient="tns@cloudco.test").exists() is False

    # No report PARTNER_REPORT_DAYS after: the same two steps, once each.
    # (the case's own review deadline passes meanwhile: its escalations are not counted here)
    result = deadlines_sweep(now=made + REPORT + timedelta(minutes=1))
    assert (result.partner_reminders, result.partner_escalations) == (1, 0)
    result = deadlines_sweep(now=made + REPORT + timedelta(minutes=2))
    assert (result.partner_reminders, result.partner_escalations) == (0, 0)
    result = deadlines_sweep(now=made + 2 * REPORT + timedelta(minutes=1))
    assert (result.partner_reminders, result.partner_escalations) == (0, 1)
    result = deadlines_sweep(now=made + 3 * REPORT)
    assert (result.partner_reminders, result.partner_escalations) == (0, 0)
    assert [n.event for n in follow_up_notices(recipient="abuse@resell.test")] == [
        "partner.ack_reminder",
        "partner.report_reminder",
    ]
    assert len(follow_up_notices(event="partner.overdue")) == 4
    assert Notice.objects.filter(recipient="tns@cloudco.test").exists() is False
    assert Case.objects.get(pk=case_id).state == "suspended"  # the sweep changes no case


# --- the contact address over the API --------------------------------------------------------


def test_a_partners_contact_address_is_set_shown_kept_and_cleared(api: ApiCaller) -> None:
    made = api.put("/partners/cloudco", {"name": "CloudCo", "contact_email": "tns@cloudco.test"})
    assert made.status_code == 201, made.content
    assert made.json()["contact_email"] == "tns@cloudco.test"
    # Left out, it is kept; empty, it is removed.
    kept = api.put("/partners/cloudco", {"name": "CloudCo Inc"})
    assert (kept.status_code, kept.json()["contact_email"]) == (200, "tns@cloudco.test")
    assert api.get("/partners/cloudco").json()["contact_email"] == "tns@cloudco.test"
    cleared = api.put("/partners/cloudco", {"name": "CloudCo Inc", "contact_email": ""})
    assert cleared.json()["contact_email"] is None
    assert Partner.objects.get(code="cloudco").contact_email == ""
    api.put("/partners/cloudco", {"name": "CloudCo Inc", "contact_email": "tns@cloudco.test"})
    nulled = api.put("/partners/cloudco", {"name": "CloudCo Inc", "contact_email": None})
    assert (nulled.status_code, nulled.json()["contact_email"]) == (200, None)
    assert Partner.objects.get(code="cloudco").contact_email == ""


def test_a_contact_address_that_is_not_an_email_is_a_422_and_changes_nothing(
    api: ApiCaller,
) -> None:
    partner_upsert(code="cloudco", name="CloudCo", contact_email="tns@cloudco.test")
    body = problem(
        api.put("/partners/cloudco", {"name": "Renamed", "contact_email": "not an address"}), 422
    )
    assert "contact_email" in str(body)
    partner = Partner.objects.get(code="cloudco")
    assert (partner.name, partner.contact_email) == ("CloudCo", "tns@cloudco.test")
