"""Fixtures of the notices tests: webhook endpoints, a real HTTP receiver on loopback that
verifies every delivery with the reference ``standardwebhooks`` library, and a drain loop that
runs delivery attempts the way a worker would (calling the task function directly)."""

from __future__ import annotations

import socket
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
from core.actors import Actor
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


@dataclass
class Trickle:
    """One request to a ``Trickler``: when it came, the bytes of the answer sent, and when the
    client hung up (``None`` if it read the whole answer)."""

    at: float
    sent: int = 0
    hung_up_at: float | None = None


class Trickler:
    """A receiver that answers 200 at once, then trickles its body: one byte every ``every``
    seconds, ``length`` bytes in all (raw sockets on loopback, one thread per connection)."""

    def __init__(self, length: int = 40, every: float = 1.0) -> None:
        self.length, self.every = length, every
        self.requests: list[Trickle] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/hooks"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    def _answer(self, client: socket.socket) -> None:
        with client:
            data = b""
            while b"\r\n\r\n" not in data:
                part = client.recv(65536)
                if not part:
                    return
                data += part
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            while len(body) < length:
                body += client.recv(65536)
            trickle = Trickle(at=time.monotonic())
            with self.lock:
                self.requests.append(trickle)
            try:
                client.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                    + f"content-length: {self.length}\r\n\r\n".encode()
                )
                for _ in range(self.length):
                    if self._stop.wait(self.every):
                        return
                    client.sendall(b".")
                    trickle.sent += 1
            except OSError:
                trickle.hung_up_at = time.monotonic()
                return
            # The client may hang up after the last byte; the answer was complete either way.


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    rec = Trickler()
    yield rec
    rec.close()


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
