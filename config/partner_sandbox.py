"""The partner sandbox of ``make run`` (dev only): two make-believe partners that follow suit.

It plays the demo partners' side of partners.md on loopback, so that a newcomer sees the whole
loop in the admin: each webhook delivered, acknowledged, then applied by one partner and
declined by the other. Per partner it serves one path (``/cloudco``, ``/resellnet``) and:

1. verifies the webhook with the reference ``standardwebhooks`` library (401 on a bad
   signature, logged), as any partner must before believing a word of it;
2. deduplicates on ``webhook-id`` (a retry of one event carries the same id) and answers 200 at
   once: a receiver that works before answering makes the sender time out and retry;
3. then, in a background thread, acknowledges the change through the partner API with that
   partner's key and, ``PARTNER_SANDBOX_REPORT_DELAY`` seconds (3) later, reports what the
   partner did: ``applied`` with a made-up reference, or ``declined`` with a note.

Calls to the partner API are retried with backoff, so the sandbox may start before the web
server. The secrets and keys are not in the code: ``seed_demo`` writes them to
``var/partner_sandbox.json`` (mode 0600), which is read again whenever it changes; a missing or
bad file is one clear log line, and the sandbox keeps running until a good one appears.

Django is not imported: this is what a partner's own receiver would be, standard library HTTP
server, ``standardwebhooks`` and ``httpx`` (docs/partners.md). Run with
``python -m config.partner_sandbox``; ``SANDBOX_PORT`` (8001) is its port and
``PARTNER_SANDBOX_API`` (``http://127.0.0.1:8000``) the service it talks back to. The service
accepts webhook URLs on loopback only for this origin, and only outside production
(``PARTNER_SANDBOX_URL``, notifications/urls_check.py).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

logger = logging.getLogger("partner_sandbox")

FILE_NAME = "partner_sandbox.json"
OUTCOMES = ("applied", "declined")
MAX_BODY_BYTES = 1_000_000
SEEN_IDS_KEPT = 10_000
# Waits between tries of one partner API call; after the last, the step is given up (logged).
RETRY_WAITS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 30.0)


def default_file() -> Path:
    """Where ``seed_demo`` writes the file: ``var/`` of the checkout (or ``VAR_DIR``)."""
    base = Path(__file__).resolve().parent.parent / "var"
    return Path(os.environ.get("VAR_DIR", str(base))) / FILE_NAME


class SandboxFileError(Exception):
    """The sandbox file is missing or not what ``seed_demo`` writes."""


@dataclass(frozen=True)
class SandboxPartner:
    code: str
    secret: str
    key: str
    outcome: str

    @property
    def path(self) -> str:
        return f"/{self.code}"


def partners_load(path: Path) -> dict[str, SandboxPartner]:
    """The partners in the sandbox file, by path; ``SandboxFileError`` says what is wrong."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise SandboxFileError(
            f"{path} does not exist yet (written by `manage.py seed_demo`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise SandboxFileError(f"{path} cannot be read as JSON: {exc}") from None
    items = raw.get("partners") if isinstance(raw, dict) else None
    if not isinstance(items, list) or not items:
        raise SandboxFileError(f"{path} lists no partners")
    found = {}
    for item in items:
        if not isinstance(item, dict):
            raise SandboxFileError(f"{path}: each partner must be an object")
        values: dict[str, Any] = {k: item.get(k) for k in ("code", "secret", "key", "outcome")}
        missing = [k for k, v in values.items() if not isinstance(v, str) or not v]
        if missing:
            raise SandboxFileError(f"{path}: a partner lacks {', '.join(missing)}")
        if values["outcome"] not in OUTCOMES:
            raise SandboxFileError(f"{path}: outcome must be one of {', '.join(OUTCOMES)}")
        partner = SandboxPartner(**values)
        found[partner.path] = partner
    return found


@dataclass(order=True)
class Step:
    """One call to the partner API, due at ``due`` (monotonic seconds)."""

    due: float
    order: int
    partner: SandboxPartner = field(compare=False)
    seq: int = field(compare=False)
    action: str = field(compare=False)  # "acknowledge" or "report"
    tries: int = field(default=0, compare=False)


class Sandbox:
    """The receiver's state: the partners (from the file), the webhook ids already seen, and
    the steps still to take. ``handle`` is called by the HTTP server's threads; ``run_due``
    by the one worker thread (or by a test, in its own thread)."""

    def __init__(
        self,
        *,
        file: Path,
        api: str,
        report_delay: float = 3.0,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.file = file
        self.api = api.rstrip("/")
        self.report_delay = report_delay
        self.http = http or httpx.Client(timeout=10.0)
        self.clock = clock
        self.lock = threading.Lock()
        self.wake = threading.Condition(self.lock)
        self.steps: list[Step] = []
        self.order = itertools.count()
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.partners: dict[str, SandboxPartner] = {}
        self.loaded_mtime: float | None = None
        self.file_problem = ""
        self.rejected = 0
        self.done: list[tuple[str, int, str]] = []  # (partner, seq, what) for logs and tests

    # --- the file ---------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the file again if it changed; a bad one is logged once, until it changes."""
        try:
            mtime: float | None = self.file.stat().st_mtime
        except OSError:
            mtime = None
        if mtime is not None and mtime == self.loaded_mtime:
            return
        try:
            partners = partners_load(self.file)
        except SandboxFileError as exc:
            if str(exc) != self.file_problem:
                self.file_problem = str(exc)
                logger.warning("no partners to play: %s", exc)
            self.partners, self.loaded_mtime = {}, mtime
            return
        self.partners, self.loaded_mtime, self.file_problem = partners, mtime, ""
        logger.info(
            "playing %s",
            ", ".join(f"{p.code} at {p.path} ({p.outcome})" for p in partners.values()),
        )

    # --- receiving --------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """One webhook: ``(status, answer)``. Verify, deduplicate, queue the follow-up."""
        with self.lock:
            self.reload()
            partner = self.partners.get(path)
        if partner is None:
            return 404, {"error": f"no partner at {path}"}
        try:
            event = Webhook(partner.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            with self.lock:
                self.rejected += 1
            logger.warning("%s: refused a webhook with a bad signature (%s)", partner.code, exc)
            return 401, {"error": "bad signature"}
        webhook_id = headers.get("webhook-id", "")
        data = event.get("data") if isinstance(event, dict) else None
        seq = data.get("change") if isinstance(data, dict) else None
        with self.lock:
            if webhook_id in self.seen:
                return 200, {"duplicate": True}
            self.seen[webhook_id] = None
            while len(self.seen) > SEEN_IDS_KEPT:
                self.seen.popitem(last=False)
            if isinstance(seq, int) and not isinstance(seq, bool):
                self._push(partner, seq, "acknowledge", self.clock())
        logger.info("%s: received %s of change %s", partner.code, event.get("type"), seq)
        return 200, {"received": webhook_id}

    def _push(
        self, partner: SandboxPartner, seq: int, action: str, due: float, tries: int = 0
    ) -> None:
        heapq.heappush(self.steps, Step(due, next(self.order), partner, seq, action, tries))
        self.wake.notify()

    # --- following up -----------------------------------------------------------------------

    def _call(self, step: Step) -> int | None:
        """Make the step's call; its HTTP status, or None if the service did not answer."""
        url = f"{self.api}/api/v1/partner/changes/{step.seq}/{step.action}"
        body: dict[str, str] = {}
        if step.action == "report":
            body = (
                {"outcome": "applied", "reference": f"{step.partner.code.upper()}-{step.seq}"}
                if step.partner.outcome == "applied"
                else {
                    "outcome": "declined",
                    "note": "The account is on a committed-spend contract; legal review first.",
                }
            )
        try:
            response = self.http.post(
                url, json=body, headers={"Authorization": f"Bearer {step.partner.key}"}
            )
        except httpx.HTTPError as exc:
            logger.info("%s: %s of change %s: %s", step.partner.code, step.action, step.seq, exc)
            return None
        return response.status_code

    def _after(self, step: Step, status: int | None) -> None:
        """What a call's answer means: next step, a retry later, or nothing more to do."""
        who = f"{step.partner.code}: {step.action} of change {step.seq}"
        if status is not None and (200 <= status < 300 or status == 409):
            logger.info("%s: %s", who, "done" if status != 409 else "already reported")
            self.done.append((step.partner.code, step.seq, step.action))
            if step.action == "acknowledge":
                with self.lock:
                    self._push(step.partner, step.seq, "report", self.clock() + self.report_delay)
            return
        retriable = status is None or status == 429 or status >= 500
        if not retriable or step.tries >= len(RETRY_WAITS):
            logger.warning("%s: given up (HTTP %s)", who, status)
            return
        with self.lock:
            wait = RETRY_WAITS[step.tries]
            self._push(step.partner, step.seq, step.action, self.clock() + wait, step.tries + 1)

    def run_due(self) -> int:
        """Take every step that is due now; how many were taken."""
        taken = 0
        while True:
            with self.lock:
                if not self.steps or self.steps[0].due > self.clock():
                    return taken
                step = heapq.heappop(self.steps)
            self._after(step, self._call(step))
            taken += 1

    def pending(self) -> int:
        with self.lock:
            return len(self.steps)

    def work(self, stop: threading.Event) -> None:
        """The worker thread: take steps as they fall due, until ``stop``."""
        while not stop.is_set():
            self.run_due()
            with self.lock:
                self.reload()  # so that the log says at once when seed_demo wrote the file
                wait = self.steps[0].due - self.clock() if self.steps else 1.0
                if wait > 0:
                    self.wake.wait(timeout=min(wait, 1.0))


def handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "partner-sandbox"

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: the sandbox logs one line per webhook itself."""

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                self._answer(400, {"error": "bad content-length"})
                return
            if length < 0 or length > MAX_BODY_BYTES:
                self._answer(413, {"error": "too large"})
                return
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer = sandbox.handle(self.path, headers, body)
            self._answer(status, answer)

        def _answer(self, status: int, answer: dict[str, Any]) -> None:
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


class Running:
    """A sandbox serving on loopback, with its worker thread; ``close`` stops both."""

    def __init__(self, sandbox: Sandbox, port: int = 0) -> None:
        self.sandbox = sandbox
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(sandbox))
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self.server.serve_forever, daemon=True),
            threading.Thread(target=sandbox.work, args=(self.stop,), daemon=True),
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, worker: bool = True) -> Running:
        for thread in self.threads if worker else self.threads[:1]:
            thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        with self.sandbox.lock:
            self.sandbox.wake.notify_all()
        self.server.shutdown()
        self.server.server_close()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(timeout=5)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # each step is logged once, below
    sandbox = Sandbox(
        file=Path(os.environ.get("PARTNER_SANDBOX_FILE") or default_file()),
        api=os.environ.get("PARTNER_SANDBOX_API", "http://127.0.0.1:8000"),
        report_delay=float(os.environ.get("PARTNER_SANDBOX_REPORT_DELAY", "3")),
    )
    with sandbox.lock:
        sandbox.reload()
    port = int(os.environ.get("SANDBOX_PORT", "8001"))
    try:
        running = Running(sandbox, port).start()
    except OSError as exc:
        logger.warning(
            "cannot listen on 127.0.0.1:%s (%s): set SANDBOX_PORT to a free port", port, exc
        )
        return 1
    logger.info("listening on %s, answering to %s", running.url, sandbox.api)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stopping.wait(0.5):
        pass
    left = sandbox.pending()
    running.close()
    logger.info("stopped%s", f" ({left} follow-up(s) not made)" if left else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
