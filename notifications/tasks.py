"""Celery tasks that send notices. They take ids, and can run twice without sending twice.

``notices_enqueue`` runs after the recording transaction commits and hands the ids to the
broker, up to ``NOTICE_SEND_BATCH`` of one lane (one webhook endpoint, or the e-mails) in one
``notices_send`` message. It never raises: if the
broker is down the notices stay in the outbox, a short circuit breaker stops later requests
from waiting on the broker too, and ``notices_sweep`` (every 30 s, see ``config/schedule.py``)
queues them once a worker runs again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .delivery import notice_deliver, notices_deliver, notices_due_claim
from .models import Notice

logger = logging.getLogger(__name__)

_breaker_lock = threading.Lock()
_broker_down_until = 0.0


def _breaker_open() -> bool:
    return time.monotonic() < _broker_down_until


def _breaker_trip(exc: BaseException) -> None:
    global _broker_down_until
    with _breaker_lock:
        _broker_down_until = time.monotonic() + float(settings.NOTICE_BROKER_BACKOFF_SECONDS)
    logger.warning(
        "broker unreachable (%s: %s); notices stay in the outbox for the sweep",
        type(exc).__name__,
        exc,
    )


def breaker_reset() -> None:
    global _broker_down_until
    with _breaker_lock:
        _broker_down_until = 0.0


def notice_batches(rows: Sequence[tuple[str, int | None]]) -> list[list[str]]:
    """The ids, given with their lane (the webhook endpoint, ``None`` for e-mails), split into
    the batches of the ``notices_send`` messages: up to ``NOTICE_SEND_BATCH`` ids of one lane
    each, so that a batch for a slow endpoint holds no notice to anyone else."""
    size = max(1, int(settings.NOTICE_SEND_BATCH))
    lanes: dict[int | None, list[str]] = {}
    for notice_id, lane in rows:
        lanes.setdefault(lane, []).append(notice_id)
    return [ids[i : i + size] for ids in lanes.values() for i in range(0, len(ids), size)]


def _publish(rows: Sequence[tuple[str, int | None]]) -> list[str]:
    """Send a task message per batch until the broker fails; returns the ids sent."""
    sent: list[str] = []
    for batch in notice_batches(rows):
        try:
            notices_send.delay(batch)
        except Exception as exc:  # any broker error: the outbox keeps the work
            _breaker_trip(exc)
            break
        sent.extend(batch)
    return sent


def notices_enqueue(ids: Sequence[Any]) -> None:
    """Hand notices to the broker; if it is down they stay pending for the outbox sweep."""
    keys = [str(i) for i in ids]
    if not keys:
        return
    if _breaker_open():
        logger.info("broker marked down; %d notice(s) left for the sweep", len(keys))
        return
    try:
        now = timezone.now()
        Notice.objects.filter(pk__in=keys, queued_at__isnull=True).update(queued_at=now)
        lanes = {
            str(pk): lane
            for pk, lane in Notice.objects.filter(pk__in=keys).values_list("pk", "endpoint_id")
        }
        sent = set(_publish([(key, lanes[key]) for key in keys if key in lanes]))
        unsent = [key for key in keys if key not in sent]
        if unsent:
            Notice.objects.filter(pk__in=unsent, queued_at=now).update(queued_at=None)
    except Exception:  # runs after commit: the change stands, the sweep retries
        logger.exception("could not queue notices %s; the sweep will", keys)


def notice_publish_later(notice_id: str, countdown: float) -> None:
    """Schedule the next attempt of a notice; on failure the sweep picks it up when due."""
    try:
        notice_send.apply_async((notice_id,), countdown=countdown)
    except Exception as exc:  # the notice is due in the outbox either way
        _breaker_trip(exc)
        Notice.objects.filter(pk=notice_id).update(queued_at=None)


@shared_task(name="notifications.tasks.notices_send", ignore_result=True)
def notices_send(notice_ids: list[str]) -> dict[str, str]:
    """One delivery attempt of each notice of a batch that is due and not already taken;
    returns the new status of each notice it sent."""
    return notices_deliver(notice_ids)


@shared_task(name="notifications.tasks.notice_send", ignore_result=True)
def notice_send(notice_id: str) -> str | None:
    """One delivery attempt of one notice (a retry after a short wait); does nothing if it is
    not due or already taken."""
    return notice_deliver(notice_id)


@shared_task(name="notifications.tasks.notices_sweep", ignore_result=True)
def notices_sweep() -> int:
    """Queue every notice that is due and not on the broker (never picked up, retry due, or
    abandoned by a dead worker). Returns how many were queued."""
    breaker_reset()
    queued = 0
    batch = int(settings.NOTICE_SWEEP_BATCH)
    while True:
        rows = notices_due_claim(limit=batch)
        if not rows:
            break
        sent = set(_publish(rows))
        queued += len(sent)
        if len(sent) < len(rows):
            unsent = [notice_id for notice_id, _ in rows if notice_id not in sent]
            Notice.objects.filter(pk__in=unsent).update(queued_at=None)
            break
        if len(rows) < batch:
            break
    if queued:
        logger.info("outbox sweep queued %d notice(s)", queued)
    return queued
