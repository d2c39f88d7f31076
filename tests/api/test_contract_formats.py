"""One type for a case id and one text for a time, in every contract: the lookup, the batch
check, the change feed, accounts and cases, webhook payloads and the machine part of e-mails."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account
from cases.actions import Suspend
from cases.models import Case, PolicyClause
from cases.services import case_open, case_transition
from config.times import iso
from core.actors import Actor
from notifications.models import Notice
from tests.notifications.conftest import make_endpoint

from .conftest import ApiCaller

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_iso_is_utc_microseconds_and_z() -> None:
    from datetime import UTC, datetime, timedelta
    from datetime import timezone as tz

    assert iso(datetime(2026, 11, 25, 10, 0, tzinfo=UTC)) == "2026-11-25T10:00:00.000000Z"
    east = datetime(2026, 11, 25, 11, 0, 0, 1500, tzinfo=tz(timedelta(hours=1)))
    assert iso(east) == "2026-11-25T10:00:00.001500Z"
    assert iso(datetime(83, 12, 14, 19, 14, 28, tzinfo=UTC)) == "0083-12-14T19:14:28.000000Z"


@pytest.fixture
def suspended(
    account: Account, policies: dict[str, PolicyClause], settings: Any, partner: Any
) -> Case:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # never contacted here
    make_endpoint("https://hooks.cloudco.example/tns", partner)
    case = case_open(account=account, summary="Flagged", actor=Actor.system())
    return case_transition(
        case=case,
        command=Suspend(reason="Distilling", policies=["competing-model-development"]),
        actor=Actor.system(),
    )


def test_case_id_and_times_agree_across_every_contract(api: ApiCaller, suspended: Case) -> None:
    case_id = suspended.pk
    lookup = api.get("/enforcement/acme-ai").json()
    since = lookup["since"]
    assert TIME.match(since), since
    assert lookup["case"] == case_id

    [checked] = api.post("/enforcement/check", {"accounts": ["acme-ai"]}).json()["results"]
    assert (checked["case"], checked["since"]) == (case_id, since)

    change = api.get("/enforcement/changes").json()["results"][-1]
    assert (change["case"], change["at"]) == (case_id, since)

    account = api.get("/accounts/acme-ai").json()
    assert (account["enforcement"]["case"], account["enforcement"]["since"]) == (case_id, since)
    assert account["open_case"]["id"] == case_id
    assert TIME.match(account["created_at"])

    detail = api.get(f"/cases/{case_id}").json()
    assert detail["id"] == case_id
    for name in ("created_at", "updated_at", "state_entered_at", "review_deadline"):
        assert TIME.match(detail[name]), (name, detail[name])
    for event in api.get(f"/cases/{case_id}/events").json()["results"]:
        assert TIME.match(event["at"]), event["at"]

    webhooks = Notice.objects.filter(case=suspended, channel="webhook")
    suspension = webhooks.get(event="enforcement.suspended").payload
    assert TIME.match(suspension["timestamp"])
    assert (suspension["data"]["case"], suspension["data"]["since"]) == (case_id, since)
    moved = webhooks.get(event="case.transitioned").payload["data"]
    assert moved["case"] == case_id
    assert TIME.match(moved["at"])

    for mail in Notice.objects.filter(case=suspended, channel="email"):
        assert mail.payload["case"] == case_id
        assert mail.payload["since"] == since
        assert TIME.match(mail.payload["at"])
        assert TIME.match(mail.statement["start"])


def test_a_time_without_microseconds_keeps_six_digits(api: ApiCaller, suspended: Case) -> None:
    at = timezone.now().replace(microsecond=0)
    Account.objects.filter(external_id="acme-ai").update(enforcement_since=at)
    expected = iso(at)
    assert expected.endswith(".000000Z")
    assert api.get("/enforcement/acme-ai").json()["since"] == expected
    [checked] = api.post("/enforcement/check", {"accounts": ["acme-ai"]}).json()["results"]
    assert checked["since"] == expected
    assert api.get("/accounts/acme-ai").json()["enforcement"]["since"] == expected
