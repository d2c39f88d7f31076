"""Fixtures of the notices tests: webhook endpoints, a real HTTP receiver on loopback that
verifies every delivery with the reference ``standardwebhooks`` library, and a drain loop that
runs delivery attempts the way a worker would (calling the task function directly)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.models import Partner
from cases.actors import Actor
from notifications.choices import NoticeStatus, WebhookEvent
from notifications.models import Notice, WebhookEndpoint
from notifications.services import endpoint_create
from notifications.tasks import notice_send

ALL_EVENTS = list(WebhookEvent.values)


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    verified: bool
    error: str = ""


@dataclass
class Receiver:
    """Answers with ``responses`` in turn (the last one repeats); ``"hang"`` never answers
    until ``release`` is set; ``"block_first"`` blocks only the first request. Each answer
    waits ``delay`` seconds, after calling ``on_request`` (if set) with the headers."""

    responses: list[Any] = field(default_factory=lambda: [200])
    secret: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    first_arrived: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    delay: float = 0.0
    on_request: Callable[[dict[str, str]], None] | None = None

    def ids(self) -> list[str]:
        return [d.headers.get("webhook-id", "") for d in self.deliveries]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                Webhook(receiver.secret).verify(body, headers)
                verified, error = True, ""
            except WebhookVerificationError as exc:
                verified, error = False, str(exc)
            with receiver.lock:
                index = len(receiver.deliveries)
                receiver.deliveries.append(Delivery(headers, body, verified, error))
                response = receiver.responses[min(index, len(receiver.responses) - 1)]
            if receiver.on_request is not None:
                receiver.on_request(headers)
            time.sleep(receiver.delay)
            if response == "hang" or (response == "block_first" and index == 0):
                receiver.first_arrived.set()
                receiver.release.wait(60)
                return
            status = 200 if response == "block_first" else int(response)
            payload = b'{"ok": true}' if status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def serving() -> Iterator[Receiver]:
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield rec
    finally:
        rec.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as rec:
        yield rec


@pytest.fixture
def other_receiver() -> Iterator[Receiver]:
    with serving() as rec:
        yield rec


@pytest.fixture
def allow_private(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True


def make_endpoint(
    url: str, partner: Partner | None, events: list[str] | None = None
) -> tuple[WebhookEndpoint, str]:
    return endpoint_create(
        url=url,
        event_types=events or ALL_EVENTS,
        partner=partner,
        actor=Actor.system("tests"),
    )


def drain(notice: Notice, timeout: float = 20.0) -> Notice:
    """Run attempts like a worker would until the notice is delivered or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        notice.refresh_from_db()
        if notice.status in (NoticeStatus.DELIVERED, NoticeStatus.FAILED):
            return notice
        wait = (notice.next_attempt_at - timezone.now()).total_seconds()
        if wait > 0:
            time.sleep(min(wait, 0.5))
            continue
        notice_send(str(notice.pk))
    raise AssertionError(f"notice {notice.pk} still {notice.status} after {timeout}s")
