"""Partners follow suit (partners.md): a propagation per (enforcement change, partner), the
partner's own feed, acknowledgements and reports, a new channel told the current state, a 410
making the partner's propagations undeliverable, and a partner key that sees only its own."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, Channel, Partner
from accounts.services import account_upsert
from cases.actions import Suspend
from cases.models import EnforcementChange
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.models import Notice, Propagation, WebhookEndpoint
from tests.notifications.conftest import Receiver, drain, make_endpoint, serving

from .conftest import ApiCaller, problem

SUSPENDED = "enforcement.suspended"


@pytest.fixture(autouse=True)
def loopback_receivers(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.NOTICE_RETRY_SCHEDULE = [0.05, 0.05]
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 1


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with serving() as one, serving() as two:
        yield one, two


@pytest.fixture
def story(db: Any, policies: Any, receivers: tuple[Receiver, Receiver]) -> dict[str, Any]:
    """An account reaching the API directly and through two partners, each with an endpoint."""
    cloudco = Partner.objects.create(code="cloudco", name="CloudCo")
    resell = Partner.objects.create(code="resell", name="Resell Ltd", kind="reseller")
    account = Account.objects.create(
        external_id="acme-ai", name="Acme AI", contacts=["legal@acme.test"], direct=True
    )
    Channel.objects.create(account=account, partner=cloudco)
    Channel.objects.create(account=account, partner=resell)
    for receiver, partner in zip(receivers, (cloudco, resell), strict=True):
        _, receiver.secret = make_endpoint(receiver.url, partner, [SUSPENDED])
    return {"cloudco": cloudco, "resell": resell, "account": account}


def suspend(account: Account, actor: Actor | None = None) -> EnforcementChange:
    case = case_open(account=account, summary="Distillation", actor=actor or Actor.system())
    case_transition(
        case=case,
        command=Suspend(
            reason="Outputs used to train a rival model", policies=["rate-limit-evasion"]
        ),
        actor=actor or Actor.system(),
    )
    return EnforcementChange.objects.filter(account=account).latest("seq")


def deliver_all() -> None:
    for notice in Notice.objects.filter(channel="webhook").exclude(status="delivered"):
        drain(notice)


def test_the_story_each_partner_follows_the_suspension_in_its_own_feed(
    story: dict[str, Any],
    receivers: tuple[Receiver, Receiver],
    make_caller: Callable[..., ApiCaller],
    api: ApiCaller,
) -> None:
    response = api.post(
        "/cases",
        {"account": "acme-ai", "summary": "Distillation of model outputs"},
    )
    assert response.status_code == 201, response.content
    case_id = response.json()["id"]
    response = api.post(
        f"/cases/{case_id}/transitions",
        {
            "action": "suspend",
            "reason": "Outputs used to train",
            "policies": ["rate-limit-evasion"],
        },
    )
    assert response.status_code == 200, response.content
    change = EnforcementChange.objects.get(case_id=case_id)
    # One propagation per partner, made with the change; the direct channel has none.
    assert sorted(
        Propagation.objects.filter(change=change).values_list("partner__code", "state")
    ) == [
        ("cloudco", "pending"),
        ("resell", "pending"),
    ]
    deliver_all()
    for receiver in receivers:
        [delivery] = receiver.deliveries
        assert delivery.verified, delivery.error
        data = json.loads(delivery.body)["data"]
        assert data["change"] == change.seq
        assert data["report_url"].endswith(f"/api/v1/partner/changes/{change.seq}/report")

    cloudco = make_caller(partner="cloudco")
    resell = make_caller(partner="resell")
    for caller in (cloudco, resell):
        feed = caller.get("/partner/changes", after="0").json()
        [item] = feed["results"]
        assert item["seq"] == change.seq
        assert item["account"] == "acme-ai"
        assert item["status"] == "suspended"
        assert item["propagation"]["state"] == "delivered"
        assert item["propagation"]["delivered_at"] is not None
        assert feed["next"] == str(item["cursor"])
        assert caller.get("/partner/changes", after=feed["next"]).json()["results"] == []

    acked = cloudco.post(f"/partner/changes/{change.seq}/acknowledge")
    assert acked.status_code == 200, acked.content
    assert acked.json()["propagation"]["state"] == "acknowledged"
    first_ack = acked.json()["propagation"]["acknowledged_at"]
    again = cloudco.post(f"/partner/changes/{change.seq}/acknowledge", {})
    assert again.json()["propagation"]["acknowledged_at"] == first_ack

    report = {"outcome": "applied", "reference": "CC-4411", "note": "Keys revoked."}
    reported = cloudco.post(f"/partner/changes/{change.seq}/report", report)
    assert reported.status_code == 201, reported.content
    body = reported.json()["propagation"]
    assert (body["state"], body["reference"], body["note"]) == (
        "applied",
        "CC-4411",
        "Keys revoked.",
    )
    # The same report again changes nothing; another is refused.
    assert cloudco.post(f"/partner/changes/{change.seq}/report", report).status_code == 200
    problem(
        cloudco.post(f"/partner/changes/{change.seq}/report", {"outcome": "declined"}),
        409,
        "already_reported",
    )
    record = Propagation.objects.get(change=change, partner__code="cloudco")
    assert (record.state, record.partner_reference) == ("applied", "CC-4411")
    assert record.acknowledged_at is not None and record.reported_at is not None
    # The silent partner stays delivered, with nothing acknowledged.
    silent = Propagation.objects.get(change=change, partner__code="resell")
    assert (silent.state, silent.acknowledged_at) == ("delivered", None)
    # The case's export carries how each partner followed it.
    exported = api.get(f"/cases/{case_id}/export").json()["propagations"]
    assert [(p["partner"], p["state"], p["partner_reference"]) for p in exported] == [
        ("cloudco", "applied", "CC-4411"),
        ("resell", "delivered", ""),
    ]


def test_reporting_first_acknowledges_too(
    story: dict[str, Any], make_caller: Callable[..., ApiCaller]
) -> None:
    change = suspend(story["account"])
    caller = make_caller(partner="resell")
    response = caller.post(f"/partner/changes/{change.seq}/report", {"outcome": "declined"})
    assert response.status_code == 201, response.content
    state = response.json()["propagation"]
    assert state["state"] == "declined"
    assert state["acknowledged_at"] == state["reported_at"]
    # Acknowledging afterwards keeps the report.
    after = caller.post(f"/partner/changes/{change.seq}/acknowledge").json()["propagation"]
    assert after["state"] == "declined"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"outcome": "done"},
        {"outcome": "applied", "colour": "blue"},
        {"outcome": "applied", "reference": 7},
        {"outcome": "applied", "note": "a\u0000b"},
        {"outcome": "applied", "reference": "x" * 201},
        [],
    ],
)
def test_a_bad_report_is_a_422_and_changes_nothing(
    story: dict[str, Any], make_caller: Callable[..., ApiCaller], body: Any
) -> None:
    change = suspend(story["account"])
    caller = make_caller(partner="cloudco")
    response = caller.post(f"/partner/changes/{change.seq}/report", body)
    assert response.status_code in (400, 422), response.content
    assert Propagation.objects.get(change=change, partner__code="cloudco").state == "pending"


def test_acknowledge_takes_no_fields(
    story: dict[str, Any], make_caller: Callable[..., ApiCaller]
) -> None:
    change = suspend(story["account"])
    caller = make_caller(partner="cloudco")
    problem(caller.post(f"/partner/changes/{change.seq}/acknowledge", {"note": "x"}), 422)
    assert Propagation.objects.get(change=change, partner__code="cloudco").acknowledged_at is None


def test_a_partner_key_sees_nothing_of_another_partners_accounts(
    story: dict[str, Any], make_caller: Callable[..., ApiCaller], policies: Any
) -> None:
    """The other partner's key: its feed is empty, and acknowledging or reporting a change of an
    account that does not reach the API through it is a 404 that changes nothing, exactly as for
    a change that does not exist."""
    Partner.objects.create(code="othercloud", name="Other Cloud")
    change = suspend(story["account"])
    other = make_caller(partner="othercloud")
    assert other.get("/partner/changes").json()["results"] == []
    for path, body in (
        (f"/partner/changes/{change.seq}/acknowledge", {}),
        (f"/partner/changes/{change.seq}/report", {"outcome": "declined"}),
        ("/partner/changes/999999/report", {"outcome": "declined"}),
    ):
        problem(other.post(path, body), 404, "change_not_found")
    assert set(Propagation.objects.values_list("state", flat=True)) == {"pending"}
    assert not Propagation.objects.filter(partner__code="othercloud").exists()
    # Nor can a partner key read anything else of the API.
    for path in ("/accounts", "/accounts/acme-ai", "/enforcement/acme-ai", "/enforcement/changes"):
        assert other.get(path).status_code == 403, path
    assert other.get(f"/cases/{change.case_id}").status_code == 403


def test_staff_and_other_keys_cannot_use_the_partner_api(
    story: dict[str, Any], api: ApiCaller, staff: Callable[[str], ApiCaller]
) -> None:
    change = suspend(story["account"])
    problem(api.get("/partner/changes"), 403)
    problem(staff("lead").post(f"/partner/changes/{change.seq}/acknowledge"), 403)
    assert Propagation.objects.filter(acknowledged_at__isnull=False).count() == 0


def test_a_partner_with_no_endpoint_is_undeliverable_from_the_start(db: Any, policies: Any) -> None:
    partner = Partner.objects.create(code="quiet", name="Quiet Cloud")
    account = Account.objects.create(external_id="quiet-co")
    Channel.objects.create(account=account, partner=partner)
    change = suspend(account)
    [record] = Propagation.objects.filter(change=change)
    assert record.state == "undeliverable"
    assert "no active webhook endpoint" in record.undeliverable_reason


def test_a_new_channel_to_a_suspended_account_is_told_the_current_state(
    db: Any, policies: Any, make_caller: Callable[..., ApiCaller]
) -> None:
    newcloud = Partner.objects.create(code="newcloud", name="New Cloud")
    account = Account.objects.create(external_id="acme-ai", contacts=["legal@acme.test"])
    change = suspend(account)
    with serving() as receiver:
        _, receiver.secret = make_endpoint(receiver.url, newcloud, [SUSPENDED])
        account_upsert(external_id="acme-ai", channels=["direct", "newcloud"])
        [record] = Propagation.objects.filter(partner=newcloud)
        assert (record.change_id, record.trigger, record.state) == (
            change.pk,
            "channel_added",
            "pending",
        )
        [notice] = Notice.objects.filter(propagation=record)
        drain(notice)
        [delivery] = receiver.deliveries
        assert delivery.verified, delivery.error
        body = json.loads(delivery.body)
        assert body["type"] == SUSPENDED
        assert body["data"]["status"] == "suspended"
        assert body["data"]["change"] == change.seq
        assert body["data"]["channel"] == "newcloud"
        assert body["data"]["trigger"] == "channel_added"
    record.refresh_from_db()
    assert record.state == "delivered"
    item = make_caller(partner="newcloud").get("/partner/changes").json()["results"][0]
    assert item["propagation"]["trigger"] == "channel_added"
    # Taking the channel away and giving it back does not tell the partner the same change again.
    account_upsert(external_id="acme-ai", channels=["direct"])
    account_upsert(external_id="acme-ai", channels=["direct", "newcloud"])
    assert Propagation.objects.filter(partner=newcloud).count() == 1
    assert Notice.objects.filter(endpoint__partner=newcloud).count() == 1


def test_a_new_channel_over_the_api_to_an_active_account_tells_nothing(
    db: Any, api: ApiCaller
) -> None:
    Partner.objects.create(code="newcloud", name="New Cloud")
    response = api.put("/accounts/fresh-co", {"channels": ["newcloud"]})
    assert response.status_code in (200, 201), response.content
    assert not Propagation.objects.exists()
    assert not Notice.objects.filter(channel="webhook").exists()


def test_a_410_makes_the_partners_propagations_undeliverable(
    story: dict[str, Any], receivers: tuple[Receiver, Receiver], users: Any
) -> None:
    receivers[0].responses = [410]
    change = suspend(story["account"])
    deliver_all_or_stopped()
    endpoint = WebhookEndpoint.objects.get(partner__code="cloudco")
    assert endpoint.active is False and endpoint.disabled_at is not None
    gone = Propagation.objects.get(change=change, partner__code="cloudco")
    assert gone.state == "undeliverable"
    assert "410" in gone.undeliverable_reason
    assert Propagation.objects.get(change=change, partner__code="resell").state == "delivered"
    # The leads are told, with the count of changes the partner will not hear of.
    disabled = Notice.objects.filter(event="endpoint.disabled")
    assert disabled.exists()
    assert all("Changes the partner cloudco" in n.body_text for n in disabled)
    # A change made while the endpoint is disabled is undeliverable from the start.
    two = Account.objects.create(external_id="acme-two")
    Channel.objects.create(account=two, partner=story["cloudco"])
    later = suspend(two)
    assert Propagation.objects.get(change=later, partner__code="cloudco").state == "undeliverable"


def deliver_all_or_stopped() -> None:
    from notifications.tasks import notice_send

    for notice in Notice.objects.filter(channel="webhook"):
        notice_send(str(notice.pk))
        notice.refresh_from_db()
        if notice.status not in ("delivered", "stopped"):
            drain(notice)


def test_the_feed_reads_in_a_constant_number_of_queries(
    story: dict[str, Any], make_caller: Callable[..., ApiCaller]
) -> None:
    caller = make_caller(partner="cloudco")
    suspend(story["account"])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert caller.get("/partner/changes").status_code == 200
        return len(queries)

    count()  # the first request of a connection may run the health check's SELECT 1
    one = count()
    for n in range(4):
        account = Account.objects.create(external_id=f"more-{n}")
        Channel.objects.create(account=account, partner=story["cloudco"])
        suspend(account)
    assert len(caller.get("/partner/changes").json()["results"]) == 5
    count()
    assert count() == one


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["p1", "--partner", "nosuch", "--scope", "partner:read"], "unknown partner"),
        (["p2", "--partner", "cloudco", "--scope", "enforcement:read"], "holds only"),
        (["p3", "--scope", "partner:read"], "need --partner"),
    ],
)
def test_partner_keys_are_bound_and_hold_only_the_partner_scopes(
    db: Any, args: list[str], message: str
) -> None:
    Partner.objects.create(code="cloudco", name="CloudCo")
    with pytest.raises(CommandError, match=message):
        call_command("create_api_client", *args)
    assert not Account.objects.exists()


def test_create_api_client_binds_a_key_to_a_partner(db: Any, capsys: Any) -> None:
    Partner.objects.create(code="cloudco", name="CloudCo")
    call_command(
        "create_api_client",
        "cloudco-ops",
        "--partner",
        "cloudco",
        "--scope",
        "partner:read",
        "--scope",
        "partner:report",
    )
    captured = capsys.readouterr()
    assert captured.out.strip().startswith("tsk_")
    assert "partner cloudco" in captured.err
