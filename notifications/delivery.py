"""Sends notices in batches: claim them, try each once, log the attempts, and settle each
notice or schedule its next try (docs/adr/0005-notices-are-sent-in-batches.md).

Only tasks call this module. A worker claims the due notices of a batch in one transaction that
locks them and sets a lease; a second worker (or a second copy of the same task message) finds
nothing to claim. The attempts run in sending threads over one pooled HTTP client, and are
recorded together: one bulk insert of the attempts and an UPDATE or two, so the database work
is per batch, not per notice. While a batch is being sent its worker keeps the lease; if the
worker dies, the lease runs out and the sweep hands the notices to another worker, which logs
the lost attempts and tries again. Delivery is therefore at least once; receivers deduplicate
webhooks on ``webhook-id`` and e-mails carry a stable Message-ID.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpcore
import httpx
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection, transaction
from django.db.models import Case, F, Q, UUIDField, Value, When
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from .choices import Channel, NoticeStatus
from .crypto import SecretUnreadable, secret_decrypt
from .errors import WebhookUrlRefused
from .models import DeliveryAttempt, Notice, WebhookEndpoint
from .propagations import propagations_delivered, propagations_undeliverable
from .services import endpoint_gone
from .urls_check import webhook_url_check

logger = logging.getLogger(__name__)

EXCERPT_MAX = 500
USER_AGENT = "tscase-webhooks/1.0"
OPEN_STATUSES = (NoticeStatus.PENDING, NoticeStatus.RETRYING)
LOST_ATTEMPT = "worker lost: the previous attempt did not finish within its lease"
# What sending and settling read: the payload and statement (large JSON, already rendered into
# the bodies) are left in the database. Sending threads must never load a deferred field.
SENDING_FIELDS = (
    "channel",
    "event",
    "recipient",
    "subject",
    "body_text",
    "body_html",
    "status",
    "attempts",
    "next_attempt_at",
    "locked_until",
    "lease",
    "propagation",
    "endpoint__url",
    "endpoint__active",
    "endpoint__disabled_at",
    "endpoint__secret",
)
# A finished attempt waits at most this long to be recorded with others (seconds).
SETTLE_EVERY = 0.5
# Once an attempt has run this long (seconds), the rest of its batch goes out several at a time.
PARALLEL_AFTER = 0.05
# While a batch is being sent, its lease is checked this often at least (seconds).
RENEW_CHECK = 1.0


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


def _pks(notice_ids: Iterable[Any]) -> list[uuid.UUID]:
    pks: list[uuid.UUID] = []
    for notice_id in notice_ids:
        try:
            pks.append(uuid.UUID(str(notice_id)))
        except ValueError:
            logger.warning("notice_send got a bad id %r", notice_id)
    return list(dict.fromkeys(pks))


def _is_due(notice: Notice, now: datetime) -> bool:
    """``_due`` for a loaded row."""
    if notice.status in OPEN_STATUSES:
        return notice.next_attempt_at <= now
    return (
        notice.status == NoticeStatus.SENDING
        and notice.locked_until is not None
        and notice.locked_until < now
    )


def notices_claim(notice_ids: Iterable[Any]) -> list[Notice]:
    """Take every notice among ``notice_ids`` that is due, for one attempt each.

    The rows are read and locked by primary key (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so
    two workers given overlapping batches take disjoint notices and never wait on each other;
    one UPDATE then sets the lease (status ``sending``, ``locked_until``, a token in ``lease``)
    on those that are due. A notice whose previous lease ran out (its worker died) gets a second
    token, and its lost attempt is logged in the same transaction. Every statement goes by
    primary key: the partial index of due notices must not be the planner's way in, as it
    fills with dead entries between vacuums.
    """
    pks = _pks(notice_ids)
    if not pks:
        return []
    now = timezone.now()
    fresh, lost = uuid.uuid4(), uuid.uuid4()
    locks = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        rows = Notice.objects.select_related("endpoint").only(*SENDING_FIELDS).filter(pk__in=pks)
        if locks:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        notices = [n for n in rows if _is_due(n, now)]
        if not notices:
            return []
        claim = Notice.objects.filter(pk__in=[n.pk for n in notices])
        if not locks:
            claim = claim.filter(_due(now))  # no row locks (SQLite): the UPDATE checks again
        until = now + _lease()
        taken = claim.update(
            status=NoticeStatus.SENDING,
            locked_until=until,
            # SET expressions see the row as it was: ``sending`` means an abandoned lease.
            lease=Case(
                When(status=NoticeStatus.SENDING, then=Value(lost)),
                default=Value(fresh),
                output_field=UUIDField(),
            ),
            attempts=F("attempts") + 1,
            queued_at=None,
        )
        for notice in notices:
            notice.lease = lost if notice.status == NoticeStatus.SENDING else fresh
            notice.status = NoticeStatus.SENDING
            notice.locked_until = until
            notice.attempts += 1
            notice.queued_at = None
        if taken != len(notices):  # without row locks, another worker came first
            mine = set(
                Notice.objects.filter(pk__in=pks, lease__in=(fresh, lost)).values_list(
                    "pk", flat=True
                )
            )
            notices = [n for n in notices if n.pk in mine]
        abandoned = [n for n in notices if n.lease == lost]
        if abandoned:
            DeliveryAttempt.objects.bulk_create(
                DeliveryAttempt(notice=n, at=now, error=LOST_ATTEMPT) for n in abandoned
            )
    order = {pk: i for i, pk in enumerate(pks)}
    notices.sort(key=lambda n: order[n.pk])
    return notices


def notice_claim(notice_id: Any) -> tuple[Notice, uuid.UUID] | None:
    """Take one notice for one attempt, or ``None`` if it is not due or someone else has it."""
    claimed = notices_claim([notice_id])
    if not claimed:
        return None
    notice = claimed[0]
    assert notice.lease is not None  # noqa: S101  # set by the claim just made
    return notice, notice.lease


def notices_due_claim(*, limit: int) -> list[tuple[str, int | None]]:
    """Notices that are due and not already on the broker, marked as queued now: their ids,
    each with its lane (its webhook endpoint; ``None`` for e-mails).

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
        due = list(rows.values_list("pk", "endpoint_id")[:limit])
        if due:
            Notice.objects.filter(pk__in=[pk for pk, _ in due]).update(queued_at=now)
    return [(str(pk), lane) for pk, lane in due]


# --- one attempt ----------------------------------------------------------------------------


@dataclass
class Outcome:
    succeeded: bool
    status_code: int | None = None
    latency_ms: int | None = None
    excerpt: str = ""
    error: str = ""
    permanent: bool = False
    gone: bool = False  # the receiver answered 410 Gone: its endpoint is disabled
    stopped: bool = False  # not sent: the endpoint was disabled as gone


@dataclass
class Attempt:
    notice: Notice
    outcome: Outcome


@dataclass
class _Batch:
    """What the attempts of one batch share: each endpoint's signer (its secret decrypted once
    per batch, or why it cannot be) and the request timeouts (httpcore's, per operation)."""

    signers: dict[int, Webhook | SecretUnreadable]
    timeout: dict[str, float]
    gone: set[int] = field(default_factory=set)  # endpoints that answered 410 in this batch

    @classmethod
    def prepare(cls, notices: list[Notice]) -> _Batch:
        signers: dict[int, Webhook | SecretUnreadable] = {}
        for notice in notices:
            endpoint = notice.endpoint
            if endpoint is None or not endpoint.active or endpoint.pk in signers:
                continue
            try:
                signers[endpoint.pk] = Webhook(secret_decrypt(endpoint.secret))
            except SecretUnreadable as exc:
                signers[endpoint.pk] = exc
            except ValueError:  # decrypted, but not base64 after ``whsec_``
                signers[endpoint.pk] = SecretUnreadable("the endpoint's secret is malformed")
        read = float(settings.WEBHOOK_TIMEOUT_SECONDS)
        timeout = {
            "connect": float(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS),
            "read": read,
            "write": read,
            "pool": read,
        }
        return cls(signers, timeout)


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


def _signed_headers(notice: Notice, signer: Webhook, at: datetime) -> dict[str, str]:
    timestamp = int(at.timestamp())
    signed_at = datetime.fromtimestamp(timestamp, tz=at.tzinfo)
    return {
        "webhook-id": notice.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signer.sign(notice.webhook_id, signed_at, notice.body_text),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def webhook_headers(notice: Notice, secret: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers; ``webhook-id`` is the notice's, the same on every retry."""
    return _signed_headers(notice, Webhook(secret), at)


# --- the deadline of an attempt -------------------------------------------------------------
# httpcore's timeouts bound each network operation (connect, one write, one read): a receiver
# that trickles its answer a byte at a time never trips them. The attempt's deadline bounds the
# whole of it: every operation of the sending thread gets at most the time left before it, and
# none starts after it. The deadline is per thread, as each attempt runs in one thread from its
# first byte to its last; the connections it uses come from the shared pool.

_deadline = threading.local()
WRITE_CHUNK = 65536


def _within_deadline(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` for the next network operation, cut to what is left of this thread's
    deadline; raises ``error`` once the deadline has passed."""
    ends: float | None = getattr(_deadline, "ends", None)
    if ends is None:
        return timeout
    left = ends - time.monotonic()
    if left <= 0:
        raise error("the attempt's deadline passed")
    return left if timeout is None else min(timeout, left)


@contextmanager
def _deadline_at(ends: float) -> Iterator[None]:
    """Network operations of this thread end by ``ends`` (``time.monotonic()`` scale)."""
    _deadline.ends = ends
    try:
        yield
    finally:
        _deadline.ends = None


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # In chunks, so that a receiver that reads slowly cannot stretch one write either.
        for start in range(0, len(buffer), WRITE_CHUNK):
            chunk = buffer[start : start + WRITE_CHUNK]
            self._stream.write(chunk, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's blocking sockets, with every operation held to the thread's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        left = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._backend.connect_tcp(host, port, left, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        left = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


_pool_lock = threading.Lock()
_pool: httpcore.ConnectionPool | None = None


def _http() -> httpcore.ConnectionPool:
    """One connection pool per process: building one (TLS context, CA bundle) costs more than a
    delivery. It is thread-safe; the attempts of a batch share it. Redirects are never
    followed and no proxy is read from the environment."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = httpcore.ConnectionPool(
                ssl_context=httpx.create_ssl_context(trust_env=False),
                max_connections=100,
                max_keepalive_connections=20,
                network_backend=_DeadlineBackend(),
            )
        return _pool


def attempt_deadline() -> float:
    """The longest one webhook attempt may take, all included (seconds)."""
    return float(settings.WEBHOOK_DEADLINE_SECONDS)


GONE = 410  # Standard Webhooks: the endpoint is gone for good; disable it, do not retry

HTTP_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


def _post_webhook(notice: Notice, batch: _Batch) -> Outcome:
    endpoint = notice.endpoint
    if endpoint is not None and (endpoint.pk in batch.gone or endpoint.disabled_at is not None):
        return Outcome(succeeded=False, error="endpoint gone (HTTP 410): not sent", stopped=True)
    if endpoint is None or not endpoint.active:
        return Outcome(succeeded=False, error="endpoint disabled", permanent=True)
    try:
        webhook_url_check(endpoint.url)  # before every attempt: DNS may have changed
    except WebhookUrlRefused as exc:
        return Outcome(
            succeeded=False,
            error=exc.detail,
            permanent=exc.fields.get("reason") != "unresolvable",
        )
    signer = batch.signers[endpoint.pk]
    if isinstance(signer, SecretUnreadable):
        return Outcome(succeeded=False, error=str(signer), permanent=True)
    headers = _signed_headers(notice, signer, timezone.now())
    deadline = attempt_deadline()
    started = time.monotonic()
    ends = started + deadline
    try:
        with (
            _deadline_at(ends),
            _http().stream(
                "POST",
                endpoint.url,
                content=notice.body_text.encode(),
                headers=list(headers.items()),
                extensions={"timeout": batch.timeout},
            ) as response,
        ):
            chunk = b""
            for part in response.iter_stream():
                chunk += part
                if len(chunk) >= EXCERPT_MAX:
                    break
            latency = int((time.monotonic() - started) * 1000)
            excerpt = chunk[:EXCERPT_MAX].decode("utf-8", errors="replace")
            ok = 200 <= response.status < 300
            gone = response.status == GONE
            if gone:
                batch.gone.add(endpoint.pk)  # the batch's later attempts there are not made
            return Outcome(
                succeeded=ok,
                status_code=response.status,
                latency_ms=latency,
                excerpt=excerpt,
                error="" if ok else f"HTTP {response.status}",
                gone=gone,
            )
    except HTTP_ERRORS as exc:
        latency = int((time.monotonic() - started) * 1000)
        if time.monotonic() >= ends:
            error = f"deadline: no complete answer within {deadline:g} s ({type(exc).__name__})"
        else:
            kind = "timeout" if isinstance(exc, httpcore.TimeoutException) else "error"
            error = f"{kind}: {type(exc).__name__}: {exc}"
        return Outcome(succeeded=False, latency_ms=latency, error=error[:EXCERPT_MAX])


def _attempt(notice: Notice, batch: _Batch) -> Attempt:
    """One try at one notice. Runs in a sending thread: no database access here (the notice and
    its endpoint are loaded, the secret decrypted)."""
    try:
        if notice.channel == Channel.WEBHOOK:
            outcome = _post_webhook(notice, batch)
        else:
            outcome = _send_email(notice)
    except Exception as exc:  # a bug must cost one attempt of one notice, not the batch
        logger.exception("notice %s: attempt raised", notice.pk)
        outcome = Outcome(succeeded=False, error=f"{type(exc).__name__}: {exc}"[:EXCERPT_MAX])
    return Attempt(notice, outcome)


# --- sending a batch ------------------------------------------------------------------------


def _attempt_budget() -> float:
    """The longest one attempt may take (a webhook's deadline; e-mails are bounded by the
    backend's own timeout)."""
    return attempt_deadline()


def _concurrency() -> int:
    return max(1, int(settings.NOTICE_SEND_CONCURRENCY))


class _Lease:
    """The lease on the notices of a batch that are not recorded yet, kept from running out
    while the batch is being sent: renewed whenever an attempt begun now could outlast it. A
    worker that dies stops renewing, and its notices are due again within
    ``NOTICE_LEASE_SECONDS``, as for a single notice. So is a notice whose attempt overran the
    longest an attempt may take (a name slow to resolve, a mail server slow at every step):
    it is not renewed, and another worker may try it after the lease."""

    def __init__(self, notices: list[Notice], lane: tuple[int, uuid.UUID] | None = None) -> None:
        self.lane = lane  # (endpoint id, token): the endpoint's lane, kept with the notices
        self.tokens = {n.lease for n in notices}
        self.open = {n.pk for n in notices}
        self.until = min(n.locked_until or timezone.now() for n in notices)
        length = _lease().total_seconds()
        # Renew when less than the longest attempt (and a check interval) is left; with a lease
        # shorter than that (a misconfiguration), at half-life.
        self.margin = timedelta(seconds=min(_attempt_budget() + RENEW_CHECK, length / 2))
        self.check_every = min(RENEW_CHECK, length / 4)

    def recorded(self, attempts: list[Attempt]) -> None:
        self.open.difference_update(a.notice.pk for a in attempts)

    def keep(self, overdue: Iterable[uuid.UUID] = ()) -> None:
        now = timezone.now()
        if self.until - now > self.margin:
            return
        renew = self.open.difference(overdue)
        if not renew:
            return
        self.until = now + _lease()
        Notice.objects.filter(pk__in=renew, lease__in=self.tokens).update(locked_until=self.until)
        if self.lane is not None:
            endpoint_id, token = self.lane
            WebhookEndpoint.objects.filter(pk=endpoint_id, lane=token).update(lane_until=self.until)


def _attempts(
    notices: list[Notice], batch: _Batch, lease: _Lease, ends: float, unstarted: list[Notice]
) -> Iterator[list[Attempt]]:
    """Make one attempt at each notice and yield the finished ones in groups, to be recorded.
    No attempt starts after ``ends`` (``time.monotonic()`` scale): the notices not tried by
    then are appended to ``unstarted``.

    The attempts run in sending threads that share the pooled client, one at a time while
    receivers answer fast: a POST to a near receiver costs more CPU than it waits, and more
    threads would only take turns at the GIL. Once an attempt has been running for
    ``PARALLEL_AFTER`` seconds (a far or hanging receiver), the rest of the batch goes out
    ``NOTICE_SEND_CONCURRENCY`` at a time. A quick batch is recorded as one group; in a slow one
    no finished attempt waits more than ``SETTLE_EVERY`` seconds to be recorded, so one slow
    receiver neither holds back the others' results nor, if the worker dies, has them sent
    again. This thread, which alone uses the database, keeps the lease meanwhile.
    """
    todo = deque(notices)
    workers = min(_concurrency(), len(notices))
    budget = _attempt_budget()
    width = 1
    running: dict[uuid.UUID, float] = {}  # attempts in flight, by notice: when they began
    results: queue.SimpleQueue[Attempt] = queue.SimpleQueue()
    group: list[Attempt] = []
    oldest = 0.0  # when the first attempt of ``group`` finished

    def run(notice: Notice) -> None:
        results.put(_attempt(notice, batch))

    def overdue() -> Iterator[uuid.UUID]:
        now = time.monotonic()
        return (pk for pk, began in running.items() if now - began > budget)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="notice-send")
    try:
        while todo or running:
            now = time.monotonic()
            if width < workers and running and now - min(running.values()) >= PARALLEL_AFTER:
                width = workers
            if todo and now >= ends:
                unstarted.extend(todo)
                todo.clear()
            if todo and len(running) < width:
                lease.keep(overdue())
                while todo and len(running) < width:
                    notice = todo.popleft()
                    running[notice.pk] = time.monotonic()
                    pool.submit(run, notice)
            wait = lease.check_every
            if group:
                wait = min(wait, oldest + SETTLE_EVERY - now)
            if width < workers and todo and running:
                wait = min(wait, min(running.values()) + PARALLEL_AFTER - now)
            try:
                attempt = results.get(timeout=max(0.0, wait))
            except queue.Empty:
                pass
            else:
                del running[attempt.notice.pk]
                if not group:
                    oldest = time.monotonic()
                group.append(attempt)
            if group and (not (todo or running) or time.monotonic() - oldest >= SETTLE_EVERY):
                yield group
                group = []
            if running:
                lease.keep(overdue())
    finally:
        # If recording failed, attempts not yet started are not made (their leases run out).
        pool.shutdown(wait=True, cancel_futures=True)


# --- recording ------------------------------------------------------------------------------


class _LeaseLost(Exception):
    """Some notice of a group was no longer ours when it was settled (rolls the group back)."""


@dataclass
class _Settled:
    statuses: dict[str, str]
    failed: list[Attempt]
    later: list[tuple[str, float]]  # (notice id, countdown) of short waits before a retry
    gone: set[int] = field(default_factory=set)  # endpoints whose receiver answered 410


def _record(
    attempts: list[Attempt],
    now: datetime,
    tokens: set[uuid.UUID | None],
    held: set[uuid.UUID] | None,
) -> _Settled:
    """Log the attempts and settle the notices still ours (holding a lease in ``tokens``): all
    of them when ``held`` is ``None`` (raises ``_LeaseLost`` if one was not), else those in
    ``held``."""
    settled = _Settled({}, [], [])
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(
            notice=a.notice,
            at=now,
            succeeded=a.outcome.succeeded,
            status_code=a.outcome.status_code,
            latency_ms=a.outcome.latency_ms,
            response_excerpt=a.outcome.excerpt,
            error=a.outcome.error,
        )
        for a in attempts
    )
    delivered: list[uuid.UUID] = []
    unsettled: list[Notice] = []
    for attempt in attempts:
        notice, outcome = attempt.notice, attempt.outcome
        if held is not None and notice.pk not in held:
            logger.warning("notice %s: lease lost before the attempt was recorded", notice.pk)
            settled.statuses[str(notice.pk)] = NoticeStatus.SENDING
            continue
        if outcome.succeeded:
            delivered.append(notice.pk)
            settled.statuses[str(notice.pk)] = NoticeStatus.DELIVERED
            continue
        notice.last_error = outcome.error
        notice.queued_at = None
        if outcome.gone or outcome.stopped:
            notice.status = NoticeStatus.STOPPED
            if outcome.gone and notice.endpoint_id is not None:
                settled.gone.add(notice.endpoint_id)
            unsettled.append(notice)
            settled.statuses[str(notice.pk)] = notice.status
            continue
        delay = None if outcome.permanent else retry_delay(notice.attempts)
        if delay is None:
            notice.status = NoticeStatus.FAILED
            settled.failed.append(attempt)
        else:
            notice.status = NoticeStatus.RETRYING
            notice.next_attempt_at = now + timedelta(seconds=delay)
            # A short wait rides on a delayed task message; a long one waits for the sweep.
            if delay <= float(settings.NOTICE_COUNTDOWN_MAX_SECONDS):
                notice.queued_at = notice.next_attempt_at
                settled.later.append((str(notice.pk), delay))
        unsettled.append(notice)
        settled.statuses[str(notice.pk)] = notice.status
    # Each UPDATE goes by primary key and lease only (no status condition; see
    # ``notices_claim``): only a claim sets a lease token and only a settlement or a
    # redelivery clears it, so the token alone says the notice is still ours.
    updated = 0
    if delivered:
        updated += Notice.objects.filter(pk__in=delivered, lease__in=tokens).update(
            status=NoticeStatus.DELIVERED,
            delivered_at=now,
            last_error="",
            locked_until=None,
            lease=None,
        )
    if unsettled:
        for notice in unsettled:
            notice.locked_until, notice.lease = None, None
        updated += Notice.objects.filter(lease__in=tokens).bulk_update(
            unsettled,
            ["status", "next_attempt_at", "last_error", "queued_at", "locked_until", "lease"],
        )
    if updated != len(delivered) + len(unsettled):
        raise _LeaseLost
    # The partners' follow-up of the changes these webhooks announce (partners.md).
    reached = set(delivered)
    propagations_delivered(
        ids=[a.notice.propagation_id for a in attempts if a.notice.pk in reached],
        at=now,
    )
    propagations_undeliverable(
        ids=[a.notice.propagation_id for a in settled.failed],
        reason="the webhook failed after every retry",
    )
    for endpoint_id in sorted(settled.gone):
        endpoint_gone(endpoint_id=endpoint_id, at=now, detail=f"HTTP {GONE} Gone")
    return settled


def _settle(attempts: list[Attempt]) -> dict[str, str]:
    """Log the attempts and settle their notices in one transaction, with a constant number of
    queries; returns each notice's new status. A notice whose lease is no longer ours (it ran
    out and another worker took it) keeps its attempt in the log but is not settled: then the
    group is recorded again, after locking the notices to see which are still ours."""
    now = timezone.now()
    tokens = {a.notice.lease for a in attempts}  # before ``_record`` clears them
    try:
        with transaction.atomic():
            settled = _record(attempts, now, tokens, held=None)
    except _LeaseLost:
        with transaction.atomic():
            held = set(
                Notice.objects.select_for_update()
                .filter(pk__in=[a.notice.pk for a in attempts], lease__in=tokens)
                .values_list("pk", flat=True)
            )
            settled = _record(attempts, now, tokens, held=held)
    for attempt in settled.failed:
        notice = attempt.notice
        logger.warning(
            "notice %s (%s to %s) failed after %s attempt(s): %s",
            notice.pk,
            notice.event,
            notice.recipient,
            notice.attempts,
            attempt.outcome.error,
        )
    if settled.later:
        from .tasks import notice_publish_later

        for notice_id, countdown in settled.later:
            notice_publish_later(notice_id, countdown)
    return settled.statuses


# --- entry points ---------------------------------------------------------------------------


def _batch_seconds() -> float:
    return float(settings.NOTICE_BATCH_SECONDS)


def _send(
    pks: list[uuid.UUID], ends: float, lane: tuple[int, uuid.UUID] | None = None
) -> dict[str, str]:
    """Claim the due notices among ``pks``, try each once (none after ``ends``), record them;
    the notices not tried in time go back to the outbox, due as they were. ``lane`` is the
    endpoint's lane this worker holds, renewed with the notices' lease."""
    notices = notices_claim(pks)
    if not notices:
        return {}
    batch = _Batch.prepare(notices)
    lease = _Lease(notices, lane)
    statuses: dict[str, str] = {}
    unstarted: list[Notice] = []
    for group in _attempts(notices, batch, lease, ends, unstarted):
        statuses.update(_settle(group))
        lease.recorded(group)
    if unstarted:
        notices_release(unstarted)
    return statuses


def notices_release(notices: list[Notice]) -> None:
    """Give back claimed notices that were not tried: the claim's attempt is not counted, and
    the next sweep queues them again (they stay due)."""
    Notice.objects.filter(
        pk__in=[n.pk for n in notices], lease__in={n.lease for n in notices}
    ).update(
        # SET expressions see the row as it was: more than the claim's attempt means retrying.
        status=Case(
            When(attempts__gt=1, then=Value(NoticeStatus.RETRYING)),
            default=Value(NoticeStatus.PENDING),
        ),
        attempts=F("attempts") - 1,
        lease=None,
        locked_until=None,
        queued_at=None,
    )
    logger.info("%d notice(s) not tried within the batch's time, back to the outbox", len(notices))


# --- lanes: one endpoint's notices go out one batch at a time -------------------------------
# A worker sends to an endpoint only while it holds the endpoint's lane (a lease on its row). A
# task message for an endpoint whose lane another worker holds returns at once and leaves its
# notices to that worker, which, once its batch is recorded, takes the endpoint's due notices
# that are left (after releasing the lane, so that none is missed). A slow or trickling
# receiver therefore holds one worker process, for at most ``NOTICE_BATCH_SECONDS`` and one
# deadline, and the other endpoints' messages go to the other processes. The lane is a lease
# like the notices' (``NOTICE_LEASE_SECONDS``, renewed with theirs): a dead worker's lane is
# free again when its notices are.


def lane_take(endpoint_id: int) -> uuid.UUID | None:
    """Take the endpoint's lane for one run; ``None`` if another worker holds it."""
    now = timezone.now()
    token = uuid.uuid4()
    taken = (
        WebhookEndpoint.objects.filter(pk=endpoint_id)
        .filter(Q(lane_until__isnull=True) | Q(lane_until__lt=now))
        .update(lane=token, lane_until=now + _lease())
    )
    return token if taken else None


def lane_release(endpoint_id: int, token: uuid.UUID) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id, lane=token).update(lane=None, lane_until=None)


def _lane_due(endpoint_id: int) -> list[uuid.UUID]:
    now = timezone.now()
    rows = Notice.objects.filter(_due(now), endpoint_id=endpoint_id).order_by("next_attempt_at")
    return list(rows.values_list("pk", flat=True)[: max(1, int(settings.NOTICE_SEND_BATCH))])


def _send_lane(endpoint_id: int, pks: list[uuid.UUID], ends: float) -> dict[str, str]:
    statuses: dict[str, str] = {}
    while True:
        token = lane_take(endpoint_id)
        if token is None:
            # Another worker sends to this endpoint and takes these next; should it stop
            # first (its time is up, or it died), the sweep queues them again.
            Notice.objects.filter(pk__in=pks, queued_at__isnull=False).update(queued_at=None)
            return statuses
        try:
            sent = _send(pks, ends, (endpoint_id, token))
        finally:
            lane_release(endpoint_id, token)
        statuses.update(sent)
        if not sent or time.monotonic() >= ends:
            return statuses
        pks = _lane_due(endpoint_id)
        if not pks:
            return statuses


def notices_deliver(notice_ids: Iterable[Any]) -> dict[str, str]:
    """One attempt at each due notice among ``notice_ids``; returns the new status of each
    notice it tried (those not due, taken by another worker, or left to the worker that holds
    their endpoint's lane, are left out). Webhooks go lane by lane (one endpoint at a time, see
    above); the same run may then send the endpoint's other due notices. No attempt starts
    after ``NOTICE_BATCH_SECONDS``."""
    pks = _pks(notice_ids)
    if not pks:
        return {}
    ends = time.monotonic() + _batch_seconds()
    order = {pk: i for i, pk in enumerate(pks)}
    lanes: dict[int | None, list[uuid.UUID]] = {}
    rows = Notice.objects.filter(pk__in=pks).values_list("pk", "endpoint_id")
    for pk, of in sorted(rows, key=lambda row: order[row[0]]):
        lanes.setdefault(of, []).append(pk)
    statuses: dict[str, str] = {}
    for endpoint_id, lane in lanes.items():
        if endpoint_id is None:
            statuses.update(_send(lane, ends))
        else:
            statuses.update(_send_lane(endpoint_id, lane, ends))
    return statuses


def notice_deliver(notice_id: Any) -> str | None:
    """One attempt at one notice; returns its new status, or ``None`` if there was nothing to do."""
    statuses = notices_deliver([notice_id])
    return next(iter(statuses.values()), None)
