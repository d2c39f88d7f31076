"""Notices travel in batches: one task message per ``NOTICE_SEND_BATCH`` ids, one claim, the
attempts, then one recording per group. Each notice is still claimed, logged and settled on its
own terms, and the database work of a batch does not grow with its size."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Partner
from notifications.delivery import lane_release, lane_take, notices_claim, notices_deliver
from notifications.models import DeliveryAttempt, Notice, WebhookEndpoint
from notifications.tasks import notices_enqueue, notices_send, notices_sweep

from .conftest import Receiver, make_endpoint
from .test_claims_concurrency import in_threads


def webhooks(endpoint: WebhookEndpoint, count: int) -> list[Notice]:
    return [
        Notice.objects.create(
            channel="webhook",
            event="case.transitioned",
            recipient=endpoint.url,
            endpoint=endpoint,
            body_text=json.dumps({"type": "case.transitioned", "data": {"n": n}}),
        )
        for n in range(count)
    ]


def emails(count: int) -> list[Notice]:
    return [
        Notice.objects.create(
            channel="email",
            event="suspension",
            recipient=f"ops{n}@acme.test",
            subject="Your account",
            body_text="Suspended.",
        )
        for n in range(count)
    ]


def queued_messages() -> list[tuple[str, list[Any]]]:
    """Takes every message off the in-memory broker: (task name, positional arguments)."""
    from config.celery import app

    taken = []
    with app.connection_for_write() as conn:  # where this process publishes
        queue = conn.SimpleQueue(app.conf.task_default_queue)
        try:
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                args, _kwargs, _embed = message.decode()
                taken.append((message.headers["task"], args))
                message.ack()
        finally:
            queue.close()
    return taken


def ids(notices: list[Notice]) -> list[str]:
    return [str(n.pk) for n in notices]


def test_recorded_notices_are_published_in_batches(db: Any, settings: Any) -> None:
    settings.NOTICE_SEND_BATCH = 2
    notices = emails(5)
    queued_messages()
    notices_enqueue([n.pk for n in notices])
    messages = queued_messages()
    assert [name for name, _ in messages] == ["notifications.tasks.notices_send"] * 3
    assert [args[0] for _, args in messages] == [
        ids(notices)[0:2],
        ids(notices)[2:4],
        ids(notices)[4:],
    ]
    assert Notice.objects.filter(queued_at__isnull=True).exists() is False


def test_sweep_publishes_due_notices_in_batches(db: Any, settings: Any) -> None:
    settings.NOTICE_SEND_BATCH = 2
    notices = emails(3)
    queued_messages()
    assert notices_sweep() == 3
    messages = queued_messages()
    assert [name for name, _ in messages] == ["notifications.tasks.notices_send"] * 2
    assert sorted(i for _, args in messages for i in args[0]) == sorted(ids(notices))


def test_one_batch_settles_each_notice_on_its_own(
    partner: Partner,
    receiver: Receiver,
    other_receiver: Receiver,
    allow_private: None,
) -> None:
    good, receiver.secret = make_endpoint(receiver.url, partner)
    failing, other_receiver.secret = make_endpoint(other_receiver.url, partner)
    other_receiver.responses = [500]
    disabled, _ = make_endpoint(receiver.url, partner)
    WebhookEndpoint.objects.filter(pk=disabled.pk).update(active=False)
    first, second = webhooks(good, 2)
    [refused] = webhooks(failing, 1)
    [skipped] = webhooks(disabled, 1)
    [mailed] = emails(1)

    statuses = notices_send(ids([first, refused, skipped, mailed, second]))

    assert statuses == {
        str(first.pk): "delivered",
        str(refused.pk): "retrying",
        str(skipped.pk): "failed",
        str(mailed.pk): "delivered",
        str(second.pk): "delivered",
    }
    assert sorted(receiver.ids()) == sorted([first.webhook_id, second.webhook_id])
    assert other_receiver.ids() == [refused.webhook_id]
    assert all(d.verified for d in receiver.deliveries + other_receiver.deliveries)
    assert len(mail.outbox) == 1
    refused.refresh_from_db()
    assert (refused.status, refused.attempts, refused.last_error) == ("retrying", 1, "HTTP 500")
    assert refused.next_attempt_at > timezone.now()
    assert refused.lease is None and refused.locked_until is None
    skipped.refresh_from_db()
    assert (skipped.status, skipped.last_error) == ("failed", "endpoint disabled")
    [attempt] = refused.attempts_log.all()
    assert (attempt.succeeded, attempt.status_code, attempt.error) == (False, 500, "HTTP 500")
    assert attempt.response_excerpt == "receiver says no"
    assert attempt.latency_ms is not None
    assert DeliveryAttempt.objects.count() == 5
    delivered = Notice.objects.filter(pk__in=[first.pk, second.pk, mailed.pk])
    assert all(n.delivered_at is not None and n.lease is None for n in delivered)


def test_running_a_batch_twice_sends_each_notice_once(
    partner: Partner, receiver: Receiver, allow_private: None
) -> None:
    endpoint, receiver.secret = make_endpoint(receiver.url, partner)
    notices = webhooks(endpoint, 3)
    assert set(notices_send(ids(notices)).values()) == {"delivered"}
    assert notices_send(ids(notices)) == {}
    assert len(receiver.ids()) == 3
    assert DeliveryAttempt.objects.count() == 3


def test_queries_of_a_batch_do_not_grow_with_its_size(
    partner: Partner,
    receiver: Receiver,
    allow_private: None,
    django_assert_max_num_queries: Any,
    settings: Any,
) -> None:
    # A lease long enough that no renewal falls inside the batch however slow the machine is
    # (a renewal is one more query, when an attempt begun then could outlast the lease).
    settings.NOTICE_LEASE_SECONDS = 3600
    endpoint, receiver.secret = make_endpoint(receiver.url, partner)

    def queries(count: int) -> int:
        notices = webhooks(endpoint, count)
        with CaptureQueriesContext(connection) as captured:
            assert set(notices_send(ids(notices)).values()) == {"delivered"}
        return len(captured)

    assert queries(2) == queries(40)
    notices = webhooks(endpoint, 40)
    # The lanes of the ids; the endpoint's lane taken; claim: read and lock, update (in a
    # savepoint); record: insert, update (in another); the lane released, then its due notices
    # looked up (none left).
    with django_assert_max_num_queries(12):
        notices_send(ids(notices))
    assert DeliveryAttempt.objects.count() == 82


def test_concurrent_batch_claims_take_disjoint_notices(
    require_postgres: None, transactional_db: Any
) -> None:
    notices = emails(40)
    batches = in_threads(4, lambda i: [n.pk for n in notices_claim(ids(notices))])
    taken = [pk for batch in batches for pk in batch]
    assert len(taken) == len(set(taken)) == len(notices)
    assert Notice.objects.exclude(status="sending").exists() is False


def test_lease_of_a_long_batch_is_kept_while_it_is_sent(
    require_postgres: None,
    transactional_db: Any,
    partner: Partner,
    receiver: Receiver,
    settings: Any,
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.NOTICE_SEND_CONCURRENCY = 1
    settings.NOTICE_LEASE_SECONDS = 0.6
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 0.2
    endpoint, receiver.secret = make_endpoint(receiver.url, partner)
    receiver.delay = 0.25
    notices = webhooks(endpoint, 6)  # about 1.5 s in all, more than twice the lease

    def worker() -> None:
        try:
            notices_deliver(ids(notices))
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(1.0)
    assert notices_claim(ids(notices)) == []  # a second worker finds nothing to take over
    thread.join(10)

    assert Notice.objects.exclude(status="delivered").exists() is False
    assert sorted(receiver.ids()) == sorted(n.webhook_id for n in notices)  # each once
    assert DeliveryAttempt.objects.filter(error__startswith="worker lost").exists() is False


def test_attempt_made_after_its_lease_was_taken_is_logged_but_not_settled(
    require_postgres: None,
    transactional_db: Any,
    partner: Partner,
    receiver: Receiver,
    settings: Any,
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    endpoint, receiver.secret = make_endpoint(receiver.url, partner)
    kept, taken = webhooks(endpoint, 2)
    other_lease = uuid.uuid4()

    def another_worker_takes_over(headers: dict[str, str]) -> None:
        # While the request is on its way, the lease runs out and another worker claims it.
        if headers["webhook-id"] == taken.webhook_id:
            try:
                Notice.objects.filter(pk=taken.pk).update(
                    lease=other_lease, locked_until=timezone.now() + timedelta(minutes=2)
                )
            finally:
                connection.close()

    receiver.on_request = another_worker_takes_over

    statuses = notices_deliver(ids([kept, taken]))

    assert statuses == {str(kept.pk): "delivered", str(taken.pk): "sending"}
    taken.refresh_from_db()
    assert (taken.status, taken.lease) == ("sending", other_lease)
    kept.refresh_from_db()
    assert kept.status == "delivered"
    assert [a.succeeded for a in taken.attempts_log.all()] == [True]  # the attempt was made
    assert kept.attempts_log.count() == 1


def test_a_batch_holds_the_notices_of_one_lane_only(
    partner: Partner, receiver: Receiver, other_receiver: Receiver, allow_private: None
) -> None:
    one, _ = make_endpoint(receiver.url, partner)
    two, _ = make_endpoint(other_receiver.url, partner)
    mixed = [emails(1)[0], webhooks(one, 1)[0], webhooks(two, 1)[0], emails(1)[0]]
    mixed.append(webhooks(one, 1)[0])
    queued_messages()
    notices_enqueue([n.pk for n in mixed])
    assert [args[0] for _, args in queued_messages()] == [
        ids([mixed[0], mixed[3]]),
        ids([mixed[1], mixed[4]]),
        ids([mixed[2]]),
    ]


def test_a_batch_for_an_endpoint_another_worker_sends_to_leaves_its_notices_alone(
    partner: Partner, receiver: Receiver, allow_private: None
) -> None:
    endpoint, receiver.secret = make_endpoint(receiver.url, partner)
    notices = webhooks(endpoint, 2)
    Notice.objects.update(queued_at=timezone.now())
    token = lane_take(endpoint.pk)  # another worker is sending to this endpoint
    assert token is not None

    assert notices_send(ids(notices)) == {}

    assert receiver.ids() == []
    assert DeliveryAttempt.objects.exists() is False
    assert (
        list(Notice.objects.values_list("status", "attempts", "queued_at"))
        == [("pending", 0, None)] * 2
    )  # due as they were, and left for the sweep should that worker stop first
    lane_release(endpoint.pk, token)
    assert set(notices_send(ids(notices)).values()) == {"delivered"}


def test_the_worker_holding_a_lane_sends_the_endpoint_s_other_due_notices(
    partner: Partner, receiver: Receiver, other_receiver: Receiver, allow_private: None
) -> None:
    endpoint, receiver.secret = make_endpoint(receiver.url, partner)
    other, _ = make_endpoint(other_receiver.url, partner)
    notices = webhooks(endpoint, 3)
    elsewhere = webhooks(other, 1)

    statuses = notices_send(ids(notices[:1]))  # the others' messages were left to this worker

    assert statuses == dict.fromkeys(ids(notices), "delivered")
    assert sorted(receiver.ids()) == sorted(n.webhook_id for n in notices)
    assert other_receiver.ids() == []  # another lane: its own message sends it
    assert Notice.objects.get(pk=elsewhere[0].pk).status == "pending"
    assert WebhookEndpoint.objects.filter(lane__isnull=False).exists() is False


def test_notices_not_tried_within_the_batch_time_go_back_to_the_outbox(
    partner: Partner, receiver: Receiver, allow_private: None, settings: Any
) -> None:
    endpoint, receiver.secret = make_endpoint(receiver.url, partner)
    settings.NOTICE_BATCH_SECONDS = 0
    notices = webhooks(endpoint, 3)
    Notice.objects.update(queued_at=timezone.now())
    retried = notices[2]
    Notice.objects.filter(pk=retried.pk).update(status="retrying", attempts=2)

    assert notices_send(ids(notices)) == {}

    assert receiver.ids() == []
    assert DeliveryAttempt.objects.exists() is False
    rows = dict(
        (pk, (status, attempts, lease, queued_at))
        for pk, status, attempts, lease, queued_at in Notice.objects.values_list(
            "pk", "status", "attempts", "lease", "queued_at"
        )
    )
    assert rows == {
        notices[0].pk: ("pending", 0, None, None),
        notices[1].pk: ("pending", 0, None, None),
        retried.pk: ("retrying", 2, None, None),
    }
    assert notices_sweep() == 3  # due as before, so the sweep queues them again
