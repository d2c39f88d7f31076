"""Sends one notice: claim it, try once, log the attempt, and settle or schedule the next try.

Only tasks call this module. A worker claims a notice by a conditional UPDATE that sets a
lease; a second worker (or a second copy of the same task message) finds nothing to claim.
If the worker dies mid-delivery, the lease runs out and the sweep hands the notice to another
worker, which logs the lost attempt and tries again. Delivery is therefore at least once;
receivers deduplicate webhooks on ``webhook-id`` and e-mails carry a stable Message-ID.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from .choices import Channel, NoticeStatus
from .crypto import SecretUnreadable, secret_decrypt
from .errors import WebhookUrlRefused
from .models import DeliveryAttempt, Notice
from .urls_check import webhook_url_check

logger = logging.getLogger(__name__)

EXCERPT_MAX = 500
USER_AGENT = "tscase-webhooks/1.0"
OPEN_STATUSES = (NoticeStatus.PENDING, NoticeStatus.RETRYING)


# --- settings -------------------------------------------------------------------------------


def retry_schedule() -> list[float]:
    """Seconds to wait before each retry; after the last, the notice is ``failed``."""
    return [float(s) for s in settings.NOTICE_RETRY_SCHEDULE]


def retry_delay(attempt: int) -> float | None:
    """The wait after failed attempt ``attempt`` (1-based), with jitter; ``None``: give up."""
    schedule = retry_schedule()
    if attempt > len(schedule):
        return None
    jitter = float(settings.NOTICE_RETRY_JITTER)
    # Jitter only lengthens a wait, so the schedule's total is a lower bound (>= 24 h).
    return schedule[attempt - 1] * random.uniform(1.0, 1.0 + jitter)  # noqa: S311  # not crypto


def _lease() -> timedelta:
    return timedelta(seconds=float(settings.NOTICE_LEASE_SECONDS))


# --- claiming -------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return Q(status__in=OPEN_STATUSES, next_attempt_at__lte=now) | Q(
        status=NoticeStatus.SENDING, locked_until__lt=now
    )


def notice_claim(notice_id: Any) -> tuple[Notice, uuid.UUID] | None:
    """Take the notice for one attempt, or ``None`` if it is not due or someone else has it."""
    try:
        pk = uuid.UUID(str(notice_id))
    except ValueError:
        logger.warning("notice_send got a bad id %r", notice_id)
        return None
    now = timezone.now()
    token = uuid.uuid4()
    claim = {
        "status": NoticeStatus.SENDING,
        "locked_until": now + _lease(),
        "lease": token,
        "attempts": F("attempts") + 1,
        "queued_at": None,
    }
    rows = Notice.objects.filter(pk=pk)
    if rows.filter(status__in=OPEN_STATUSES, next_attempt_at__lte=now).update(**claim):
        lost = False
    elif rows.filter(status=NoticeStatus.SENDING, locked_until__lt=now).update(**claim):
        lost = True
    else:
        return None
    notice = Notice.objects.select_related("endpoint").get(pk=pk)
    if lost:
        DeliveryAttempt.objects.create(
            notice=notice,
            at=now,
            error="worker lost: the previous attempt did not finish within its lease",
        )
    return notice, token


def notices_due_claim(*, limit: int) -> list[str]:
    """Ids of notices that are due and not already on the broker, marked as queued now.

    Two sweeps at once take disjoint rows (``skip_locked`` on PostgreSQL; SQLite serialises
    writers), and a notice queued less than ``NOTICE_REQUEUE_AFTER_SECONDS`` ago is left alone.
    """
    now = timezone.now()
    fresh = Q(queued_at__isnull=True) | Q(
        queued_at__lte=now - timedelta(seconds=float(settings.NOTICE_REQUEUE_AFTER_SECONDS))
    )
    with transaction.atomic():
        rows = Notice.objects.filter(_due(now) & fresh).order_by("next_attempt_at")
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        ids = list(rows.values_list("pk", flat=True)[:limit])
        if ids:
            Notice.objects.filter(pk__in=ids).update(queued_at=now)
    return [str(i) for i in ids]


# --- one attempt ----------------------------------------------------------------------------


@dataclass
class Outcome:
    succeeded: bool
    status_code: int | None = None
    latency_ms: int | None = None
    excerpt: str = ""
    error: str = ""
    permanent: bool = False


def _message_id(notice: Notice) -> str:
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
    return f"<notice-{notice.pk.hex}@{domain}>"


def _send_email(notice: Notice) -> Outcome:
    started = time.monotonic()
    message = EmailMultiAlternatives(
        subject=notice.subject,
        body=notice.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notice.recipient],
        headers={"Message-ID": _message_id(notice), "X-Notice-Id": str(notice.pk)},
    )
    if notice.body_html:
        message.attach_alternative(notice.body_html, "text/html")
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # any backend error is one failed attempt
        return Outcome(
            succeeded=False,
            latency_ms=int((time.monotonic() - started) * 1000),
            error=f"{type(exc).__name__}: {exc}"[:EXCERPT_MAX],
        )
    return Outcome(succeeded=True, latency_ms=int((time.monotonic() - started) * 1000))


def webhook_headers(notice: Notice, secret: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers; ``webhook-id`` is the notice's, the same on every retry."""
    timestamp = int(at.timestamp())
    signed_at = datetime.fromtimestamp(timestamp, tz=at.tzinfo)
    return {
        "webhook-id": notice.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": Webhook(secret).sign(notice.webhook_id, signed_at, notice.body_text),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


_client_lock = threading.Lock()
_client: httpx.Client | None = None


def _http() -> httpx.Client:
    """One pooled client per process: building one (TLS context, CA bundle) costs more than a
    delivery. Timeouts are set per request from the settings."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return _client


def _post_webhook(notice: Notice) -> Outcome:
    endpoint = notice.endpoint
    if endpoint is None or not endpoint.active:
        return Outcome(succeeded=False, error="endpoint disabled", permanent=True)
    try:
        webhook_url_check(endpoint.url)
    except WebhookUrlRefused as exc:
        return Outcome(
            succeeded=False,
            error=exc.detail,
            permanent=exc.fields.get("reason") != "unresolvable",
        )
    try:
        secret = secret_decrypt(endpoint.secret)
    except SecretUnreadable as exc:
        return Outcome(succeeded=False, error=str(exc), permanent=True)
    headers = webhook_headers(notice, secret, timezone.now())
    timeout = httpx.Timeout(
        float(settings.WEBHOOK_TIMEOUT_SECONDS),
        connect=float(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS),
    )
    started = time.monotonic()
    try:
        with _http().stream(
            "POST",
            endpoint.url,
            content=notice.body_text.encode(),
            headers=headers,
            timeout=timeout,
        ) as response:
            chunk = b""
            for part in response.iter_bytes():
                chunk += part
                if len(chunk) >= EXCERPT_MAX:
                    break
            latency = int((time.monotonic() - started) * 1000)
            excerpt = chunk[:EXCERPT_MAX].decode("utf-8", errors="replace")
            ok = 200 <= response.status_code < 300
            return Outcome(
                succeeded=ok,
                status_code=response.status_code,
                latency_ms=latency,
                excerpt=excerpt,
                error="" if ok else f"HTTP {response.status_code}",
            )
    except httpx.HTTPError as exc:
        kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "error"
        return Outcome(
            succeeded=False,
            latency_ms=int((time.monotonic() - started) * 1000),
            error=f"{kind}: {type(exc).__name__}: {exc}"[:EXCERPT_MAX],
        )


def _settle(notice: Notice, token: uuid.UUID, outcome: Outcome) -> str:
    with transaction.atomic():
        status, countdown = _record(notice, token, outcome)
    if status == NoticeStatus.FAILED:
        logger.warning(
            "notice %s (%s to %s) failed after %s attempt(s): %s",
            notice.pk,
            notice.event,
            notice.recipient,
            notice.attempts,
            outcome.error,
        )
    if countdown is not None:
        from .tasks import notice_publish_later

        notice_publish_later(str(notice.pk), countdown)
    return status


def _record(notice: Notice, token: uuid.UUID, outcome: Outcome) -> tuple[str, float | None]:
    """Log the attempt and settle the notice (one transaction); returns the status and, for a
    short wait, the countdown of the next attempt."""
    now = timezone.now()
    DeliveryAttempt.objects.create(
        notice=notice,
        at=now,
        succeeded=outcome.succeeded,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        response_excerpt=outcome.excerpt,
        error=outcome.error,
    )
    mine = Notice.objects.filter(pk=notice.pk, status=NoticeStatus.SENDING, lease=token)
    done = {"locked_until": None, "lease": None}
    countdown: float | None = None
    if outcome.succeeded:
        status = NoticeStatus.DELIVERED
        updated = mine.update(status=status, delivered_at=now, last_error="", **done)
    else:
        delay = None if outcome.permanent else retry_delay(notice.attempts)
        if delay is None:
            status = NoticeStatus.FAILED
            updated = mine.update(status=status, last_error=outcome.error, **done)
        else:
            status = NoticeStatus.RETRYING
            due = now + timedelta(seconds=delay)
            if delay <= float(settings.NOTICE_COUNTDOWN_MAX_SECONDS):
                countdown = delay
            updated = mine.update(
                status=status,
                next_attempt_at=due,
                last_error=outcome.error,
                # A short wait rides on a delayed task message; a long one waits for the sweep.
                queued_at=due if countdown is not None else None,
                **done,
            )
    if not updated:
        logger.warning("notice %s: lease lost before the attempt was recorded", notice.pk)
        return NoticeStatus.SENDING, None
    return status, countdown


def notice_deliver(notice_id: Any) -> str | None:
    """One attempt at one notice; returns its new status, or ``None`` if there was nothing to do."""
    claimed = notice_claim(notice_id)
    if claimed is None:
        return None
    notice, token = claimed
    if notice.channel == Channel.WEBHOOK:
        outcome = _post_webhook(notice)
    else:
        outcome = _send_email(notice)
    return _settle(notice, token, outcome)
