"""A receiver that answers 410 Gone: its endpoint is disabled at once, its notices still on
their way are stopped (kept, marked) and the leads are told; a lead may enable it again, which
sends the stopped notices again with their webhook-id."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User

from accounts.models import Partner
from core.actors import Actor
from core.errors import Forbidden
from notifications.models import DeliveryAttempt, Notice, WebhookEndpoint
from notifications.services import endpoint_enable
from notifications.tasks import notices_send, notices_sweep

from .conftest import Receiver, drain, make_endpoint


def webhook(endpoint: WebhookEndpoint, n: int, **fields: Any) -> Notice:
    return Notice.objects.create(
        channel="webhook",
        event="case.transitioned",
        recipient=endpoint.url,
        endpoint=endpoint,
        body_text=json.dumps({"type": "case.transitioned", "data": {"n": n}}),
        **fields,
    )


@pytest.fixture
def gone(
    partner: Partner, receiver: Receiver, allow_private: None, users: dict[str, User]
) -> tuple[WebhookEndpoint, list[Notice]]:
    """An endpoint whose receiver answers 410, and its notices: the one sent, one pending, one
    waiting for a retry, one already delivered."""
    endpoint, receiver.secret = make_endpoint(receiver.url, partner)
    receiver.responses = [410]
    notices = [
        webhook(endpoint, 0),
        webhook(endpoint, 1),
        webhook(endpoint, 2, status="retrying", attempts=2),
        webhook(endpoint, 3, status="delivered", attempts=1),
    ]
    # The later notices are not due yet: only the first is sent.
    later = notices[0].next_attempt_at.replace(year=notices[0].next_attempt_at.year + 1)
    Notice.objects.filter(pk__in=[notices[1].pk, notices[2].pk]).update(next_attempt_at=later)
    assert notices_send([str(notices[0].pk)]) == {str(notices[0].pk): "stopped"}
    return endpoint, notices


def test_a_410_disables_the_endpoint_stops_its_notices_and_tells_the_leads(
    gone: tuple[WebhookEndpoint, list[Notice]], receiver: Receiver, users: dict[str, User]
) -> None:
    endpoint, (sent, pending, retrying, delivered) = gone
    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert endpoint.disabled_at is not None
    assert endpoint.disabled_reason.startswith("the receiver answered HTTP 410 Gone on ")

    assert receiver.ids() == [sent.webhook_id]  # one request, no retry scheduled
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.notice_id, attempt.status_code, attempt.succeeded) == (sent.pk, 410, False)
    rows = dict(Notice.objects.filter(endpoint=endpoint).values_list("pk", "status"))
    assert rows == {
        sent.pk: "stopped",
        pending.pk: "stopped",
        retrying.pk: "stopped",
        delivered.pk: "delivered",
    }
    for notice in (pending, retrying):
        notice.refresh_from_db()
        assert notice.last_error.startswith("endpoint gone: the receiver answered HTTP 410")
    assert notices_sweep() == 1  # only the leads' e-mail: nothing of the endpoint is due

    told = Notice.objects.filter(channel="staff", event="endpoint.disabled")
    assert [n.recipient for n in told] == [users["lead"].email]
    assert endpoint.url in told[0].body_text
    assert "Notices stopped: 3" in told[0].body_text


def test_the_rest_of_a_batch_is_not_sent_after_a_410(
    partner: Partner, receiver: Receiver, allow_private: None, settings: Any, db: Any
) -> None:
    settings.NOTICE_SEND_CONCURRENCY = 1
    endpoint, receiver.secret = make_endpoint(receiver.url, partner)
    receiver.responses = [410]
    notices = [webhook(endpoint, n) for n in range(3)]

    statuses = notices_send([str(n.pk) for n in notices])

    assert set(statuses.values()) == {"stopped"}
    assert receiver.ids() == [notices[0].webhook_id]
    assert DeliveryAttempt.objects.filter(status_code=410).count() == 1


def test_a_lead_enables_the_endpoint_again_and_its_stopped_notices_are_sent_again(
    gone: tuple[WebhookEndpoint, list[Notice]],
    receiver: Receiver,
    actors: dict[str, Actor],
    django_capture_on_commit_callbacks: Any,
) -> None:
    endpoint, (sent, pending, retrying, _) = gone
    receiver.responses = [200]

    with django_capture_on_commit_callbacks(execute=False) as dispatched:
        enabled, resumed = endpoint_enable(endpoint_id=endpoint.pk, actor=actors["lead"])

    assert (enabled.active, enabled.disabled_at, enabled.disabled_reason) == (True, None, "")
    assert resumed == 3
    assert len(dispatched) == 1  # queued after commit
    for notice in (sent, pending, retrying):
        notice.refresh_from_db()
        assert (notice.status, notice.attempts, notice.last_error) == ("pending", 0, "")
    for notice in (sent, pending, retrying):
        assert drain(notice).status == "delivered"
    assert sorted(receiver.ids()) == sorted(
        [sent.webhook_id] * 2 + [pending.webhook_id, retrying.webhook_id]
    )  # the first one's 410 and its resend carry the same webhook-id


@pytest.mark.parametrize("role", ["analyst", "investigator", "auditor"])
def test_only_leads_enable_an_endpoint(
    gone: tuple[WebhookEndpoint, list[Notice]], actors: dict[str, Actor], role: str
) -> None:
    endpoint, _ = gone
    with pytest.raises(Forbidden):
        endpoint_enable(endpoint_id=endpoint.pk, actor=actors[role])
    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert endpoint.disabled_reason != ""
    assert Notice.objects.filter(endpoint=endpoint, status="stopped").count() == 3


def test_the_admin_shows_why_and_lets_a_lead_enable_the_endpoint(
    gone: tuple[WebhookEndpoint, list[Notice]], client: Any, users: dict[str, User]
) -> None:
    endpoint, _ = gone
    client.force_login(users["analyst"])
    page = client.get("/admin/notifications/webhookendpoint/")
    assert "410 Gone" in page.content.decode()
    refused = client.post(
        "/admin/notifications/webhookendpoint/",
        {"action": "enable", "_selected_action": [endpoint.pk]},
    )
    assert refused.status_code in (200, 302)
    endpoint.refresh_from_db()
    assert endpoint.active is False  # not a lead: no such action

    client.force_login(users["lead"])
    response = client.post(
        "/admin/notifications/webhookendpoint/",
        {"action": "enable", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    assert response.status_code == 200
    endpoint.refresh_from_db()
    assert endpoint.active is True
    assert Notice.objects.filter(endpoint=endpoint, status="pending").count() == 3
