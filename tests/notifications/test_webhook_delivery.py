"""Acceptance 2: a real receiver on loopback verifies every delivery with the reference
``standardwebhooks`` library; retries keep one webhook-id; a silent receiver ends failed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from accounts.models import Account, Partner
from cases.actions import Suspend
from cases.models import Decision
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.delivery import retry_delay
from notifications.models import DeliveryAttempt, Notice, WebhookEndpoint
from notifications.services import notice_redeliver
from notifications.tasks import notice_send

from .conftest import Receiver, Trickler, drain, make_endpoint


@pytest.fixture
def fast_retries(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.NOTICE_RETRY_SCHEDULE = [0.05, 0.05, 0.05]
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 0.5


def suspend_with_endpoint(
    account: Account, partner: Partner, actors: dict[str, Actor], receiver: Receiver
) -> Notice:
    _, secret = make_endpoint(receiver.url, partner, ["enforcement.suspended"])
    receiver.secret = secret
    case = case_open(account=account, summary="Scraping", actor=actors["analyst"])
    case_transition(
        case=case,
        command=Suspend(reason="Evasion", policies=["rate-limit-evasion"]),
        actor=actors["analyst"],
    )
    return Notice.objects.get(case=case, channel="webhook")


def test_delivery_is_signed_and_verified_by_the_reference_library(
    account: Account,
    partner: Partner,
    actors: dict[str, Actor],
    policies: Any,
    receiver: Receiver,
    fast_retries: None,
) -> None:
    notice = drain(suspend_with_endpoint(account, partner, actors, receiver))
    assert notice.status == "delivered"
    [delivery] = receiver.deliveries
    assert delivery.verified, delivery.error
    assert delivery.headers["webhook-id"] == notice.webhook_id
    assert delivery.headers["webhook-signature"].startswith("v1,")
    body = json.loads(delivery.body)
    decision = Decision.objects.get(case_id=notice.case_id)
    change = body["data"]["change"]
    assert body["type"] == "enforcement.suspended"
    assert body["data"] == {
        "account": "acme-ai",
        "status": "suspended",
        "previous_status": "active",
        "since": body["timestamp"],
        "case": notice.case_id,
        "policies": [{"code": "rate-limit-evasion", "version": 2}],
        "change": body["data"]["change"],
        "channel": "cloudco",
        "until": None,
        "decision": decision.reference,
        "restrictions": [
            {
                "kind": "suspension",
                "models": [],
                "features": [],
                "requests_per_minute": None,
                "tokens_per_minute": None,
                "starts_at": body["timestamp"],
                "ends_at": None,
                "decision": decision.reference,
                "case": notice.case_id,
            }
        ],
        "acknowledge_url": f"http://localhost:8000/api/v1/partner/changes/{change}/acknowledge",
        "report_url": f"http://localhost:8000/api/v1/partner/changes/{change}/report",
    }
    # The partner's follow-up of the change moved on when the webhook got its 2xx.
    assert notice.propagation is not None
    assert notice.propagation.state == "delivered"
    assert notice.propagation.delivered_at is not None
    [attempt] = notice.attempts_log.all()
    assert attempt.succeeded is True
    assert attempt.status_code == 200
    assert attempt.latency_ms is not None
    assert attempt.response_excerpt == '{"ok": true}'


def test_two_500s_then_200_makes_three_attempts_with_one_webhook_id(
    account: Account,
    partner: Partner,
    actors: dict[str, Actor],
    policies: Any,
    receiver: Receiver,
    fast_retries: None,
) -> None:
    receiver.responses = [500, 500, 200]
    notice = drain(suspend_with_endpoint(account, partner, actors, receiver))
    assert notice.status == "delivered"
    assert notice.attempts == 3
    assert receiver.ids() == [notice.webhook_id] * 3
    assert all(d.verified for d in receiver.deliveries)
    attempts = list(notice.attempts_log.order_by("at"))
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert [a.succeeded for a in attempts] == [False, False, True]
    assert attempts[0].response_excerpt == "receiver says no"
    assert attempts[0].error == "HTTP 500"


def test_receiver_that_never_answers_ends_failed_with_every_attempt_logged(
    account: Account,
    partner: Partner,
    actors: dict[str, Actor],
    policies: Any,
    receiver: Receiver,
    fast_retries: None,
) -> None:
    receiver.responses = ["hang"]
    notice = drain(suspend_with_endpoint(account, partner, actors, receiver), timeout=30)
    assert notice.status == "failed"
    assert notice.attempts == 4  # the first try and three retries
    attempts = list(notice.attempts_log.all())
    assert len(attempts) == 4
    assert all(a.succeeded is False and a.error.startswith("timeout") for a in attempts)
    assert receiver.ids() == [notice.webhook_id] * 4
    assert notice.last_error.startswith("timeout")


def test_delivery_refuses_a_url_that_turned_private(
    account: Account,
    partner: Partner,
    actors: dict[str, Actor],
    policies: Any,
    receiver: Receiver,
    fast_retries: None,
    settings: Any,
) -> None:
    notice = suspend_with_endpoint(account, partner, actors, receiver)
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    notice = drain(notice)
    assert notice.status == "failed"
    assert "private" in notice.last_error
    assert receiver.deliveries == []


def test_disabled_endpoint_fails_its_pending_notices_without_sending(
    account: Account,
    partner: Partner,
    actors: dict[str, Actor],
    policies: Any,
    receiver: Receiver,
    fast_retries: None,
) -> None:
    notice = suspend_with_endpoint(account, partner, actors, receiver)
    WebhookEndpoint.objects.update(active=False)
    notice = drain(notice)
    assert notice.status == "failed"
    assert notice.last_error == "endpoint disabled"
    assert receiver.deliveries == []


def test_default_schedule_retries_for_at_least_24_hours_with_jitter(settings: Any) -> None:
    schedule = settings.NOTICE_RETRY_SCHEDULE
    assert sum(schedule) >= 24 * 3600
    assert schedule == sorted(schedule)
    for n, base in enumerate(schedule, start=1):
        delay = retry_delay(n)
        assert delay is not None
        assert base <= delay <= base * (1 + settings.NOTICE_RETRY_JITTER)
    assert retry_delay(len(schedule) + 1) is None


def test_attempt_log_keeps_no_secret(
    account: Account,
    partner: Partner,
    actors: dict[str, Actor],
    policies: Any,
    receiver: Receiver,
    fast_retries: None,
    caplog: Any,
) -> None:
    caplog.set_level("DEBUG")
    receiver.responses = [500, 200]
    notice = drain(suspend_with_endpoint(account, partner, actors, receiver))
    secret = receiver.secret
    assert secret not in caplog.text
    assert secret[6:] not in caplog.text
    for attempt in DeliveryAttempt.objects.filter(notice=notice):
        assert secret[6:] not in f"{attempt.error}{attempt.response_excerpt}"


def test_redelivery_resends_with_the_same_webhook_id(
    account: Account,
    partner: Partner,
    actors: dict[str, Actor],
    policies: Any,
    receiver: Receiver,
    fast_retries: None,
) -> None:
    notice = drain(suspend_with_endpoint(account, partner, actors, receiver))
    notice_redeliver(notice_id=notice.pk, actor=actors["lead"])
    notice = drain(notice)
    assert notice.status == "delivered"
    assert receiver.ids() == [notice.webhook_id, notice.webhook_id]
    assert all(d.verified for d in receiver.deliveries)
    assert notice.attempts_log.count() == 2


def test_receiver_that_trickles_its_answer_is_cut_at_the_attempt_deadline(
    partner: Partner, trickler: Trickler, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 5  # one byte a second never trips a per-read timeout
    settings.WEBHOOK_DEADLINE_SECONDS = 1.5
    endpoint, _ = make_endpoint(trickler.url, partner)
    notice = Notice.objects.create(
        channel="webhook",
        event="case.transitioned",
        recipient=endpoint.url,
        endpoint=endpoint,
        body_text=json.dumps({"type": "case.transitioned", "data": {}}),
    )

    assert notice_send(str(notice.pk)) == "retrying"

    attempt = notice.attempts_log.get()
    assert attempt.succeeded is False
    assert attempt.error.startswith("deadline: no complete answer within 1.5 s")
    assert attempt.latency_ms is not None and 1500 <= attempt.latency_ms < 3500
    [request] = trickler.requests
    assert 0 < request.sent < trickler.length  # it had begun answering, and was not waited for
