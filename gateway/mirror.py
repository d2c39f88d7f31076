"""The mirror: the gateway check answered locally, from a copy of the deny-list (gateway.md).

    TSCASE_GATEWAY_KEY=... python -m gateway.mirror --service URL --listen HOST:PORT \\
        --state-file PATH [--max-stale SECONDS] [--on-stale allow|deny]

``ANY /authz`` and ``ANY /authz/<anything>`` answer as the service's ``/api/v1/gateway/authz``
does (200, 403 with the same problem, 400 without a valid ``x-account-id``, the same ``x-tns-*``
headers), plus ``x-tns-stale-seconds``; ``GET /healthz`` says whether a list is held, at which
cursor and how stale. The list is kept by :class:`gateway.client.DenyListClient` on a thread of
its own; the server is a small asyncio HTTP/1.1 server (keep-alive, pipelining), on uvloop when
it is installed and on the standard library's loop otherwise.

Past ``--max-stale`` seconds without a successful sync, ``--on-stale allow`` (the default)
keeps answering from the last good list, and says so (``x-tns-stale: true``, /healthz
``"status": "stale"``); ``--on-stale deny`` refuses every request (403, ``x-tns-reason``
``list_stale``). Until a list is held (no state file, the service not reached yet), the check
answers 503, which the gateway treats as its own failure mode (fail open or closed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, cast

from .client import DenyListClient
from .verdict import (
    ACCOUNT_ID_INVALID,
    ACCOUNT_ID_MISSING,
    PROBLEM_TYPE_BASE,
    is_external_id,
    now_text,
    refusal_problem,
)

logger = logging.getLogger("gateway.mirror")

KEY_ENV = "TSCASE_GATEWAY_KEY"
HEADER_MAX = 200
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_STALE = 300.0
STALE_CODE = "list_stale"
STALE_TITLE = "The deny-list is stale"
NOT_READY_CODE = "list_not_loaded"


def _problem(status: int, code: str, detail: str, instance: str, **extra: Any) -> bytes:
    body = {
        "type": f"{PROBLEM_TYPE_BASE}{code}",
        "title": extra.pop("title", None) or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
        **extra,
    }
    return json.dumps(body).encode()


def _clean(value: str) -> str:
    """A header value as sent: no CR, LF or other control characters."""
    return "".join(c for c in value if c >= " " and c != "\x7f")


class Answerer:
    """The answers of the mirror, from the client's list (no I/O: the server writes them)."""

    def __init__(
        self,
        client: DenyListClient,
        *,
        max_stale: float = DEFAULT_MAX_STALE,
        on_stale: str = "allow",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if on_stale not in ("allow", "deny"):
            raise ValueError("on_stale is allow or deny")
        self.client = client
        self.max_stale = max_stale
        self.on_stale = on_stale
        self.clock = clock

    def _staleness(self) -> tuple[int, bool]:
        synced_at = self.client.synced_at
        if synced_at is None:
            return 0, True
        seconds = max(0.0, self.clock() - synced_at)
        return int(seconds), seconds > self.max_stale

    def authz(
        self, headers: dict[str, str], path: str
    ) -> tuple[int, list[tuple[str, str]], bytes, str]:
        """``(status, headers, body, content type)`` of the check for one request."""
        stale_seconds, stale = self._staleness()
        common = [
            ("x-tns-feed-seq", str(self.client.cursor)),
            ("x-tns-stale-seconds", str(stale_seconds)),
            ("cache-control", "no-store"),
        ]
        if stale and self.client.ready:
            common.append(("x-tns-stale", "true"))
        account = (headers.get("x-account-id") or "").strip()
        if not account:
            code, detail = ACCOUNT_ID_MISSING
            return 400, common, _problem(400, code, detail, path), "application/problem+json"
        if not is_external_id(account):
            code, detail = ACCOUNT_ID_INVALID
            return 400, common, _problem(400, code, detail, path), "application/problem+json"
        if not self.client.ready:
            body = _problem(503, NOT_READY_CODE, "The mirror holds no deny-list yet.", path)
            return 503, common, body, "application/problem+json"
        model = (headers.get("x-model") or "").strip()[:HEADER_MAX] or None
        feature = (headers.get("x-feature") or "").strip()[:HEADER_MAX] or None
        found = self.client.check(account, model, feature)
        answer = [("x-tns-status", found.status), *common]
        if stale and self.on_stale == "deny":
            answer.append(("x-tns-reason", STALE_CODE))
            detail = (
                f"The mirror has not synced its deny-list for {stale_seconds} seconds "
                f"(more than {self.max_stale:g}): every request is refused until it does."
            )
            body = _problem(403, STALE_CODE, detail, path, title=STALE_TITLE)
            return 403, answer, body, "application/problem+json"
        if found.allowed:
            if found.rate_limit:
                answer.append(("x-tns-rate-limit", found.rate_limit))
            return 200, answer, b"", ""
        assert found.reason is not None  # noqa: S101 -- a refusal always has its reason
        answer.append(("x-tns-reason", found.reason))
        if found.decision:
            answer.append(("x-tns-decision", _clean(found.decision)))
        body = json.dumps(
            refusal_problem(
                reason=found.reason, account=account, decision=found.decision, instance=path
            )
        ).encode()
        return 403, answer, body, "application/problem+json"

    def healthz(self) -> tuple[int, bytes]:
        status = self.client.status()
        stale_seconds, stale = self._staleness()
        body = {
            "status": "starting" if not status.ready else ("stale" if stale else "ok"),
            "cursor": str(status.cursor),
            "accounts": status.accounts,
            "synced_at": (
                now_text(datetime.fromtimestamp(status.synced_at, UTC))
                if status.synced_at is not None
                else None
            ),
            "stale_seconds": stale_seconds if status.synced_at is not None else None,
            "max_stale": self.max_stale,
            "on_stale": self.on_stale,
            "last_error": self.client.last_error,
        }
        return (200 if status.ready else 503), json.dumps(body).encode()


def _response(
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
    content_type: str,
    *,
    keep_alive: bool,
    head: bool,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    if content_type:
        lines.append(f"content-type: {content_type}")
    lines.append(f"content-length: {len(body)}")
    if not keep_alive:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else body)


class _BadRequest(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining; bodies are read and ignored (the check reads
    headers only), by ``Content-Length`` or chunked."""

    def __init__(self, answerer: Answerer, open_transports: set[asyncio.Transport]) -> None:
        self.answerer = answerer
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.open_transports = open_transports

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's do not derive from asyncio.Transport).
        self.transport = cast(asyncio.Transport, transport)
        self.open_transports.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.open_transports.discard(self.transport)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        close = False
        try:
            while self.buffer:
                request = self._next_request()
                if request is None:
                    break
                answer, keep_alive = request
                out.append(answer)
                if not keep_alive:
                    close = True
                    break
        except _BadRequest as exc:
            body = _problem(exc.status, "malformed_request", exc.detail, "/")
            out.append(
                _response(
                    exc.status,
                    [],
                    body,
                    "application/problem+json",
                    keep_alive=False,
                    head=False,
                )
            )
            close = True
        if self.transport is None:
            return
        if out:
            self.transport.write(b"".join(out))
        if close:
            self.buffer.clear()
            self.transport.close()

    def _body_end(self, start: int, headers: dict[str, str]) -> int | None:
        """Where the request's body ends in the buffer (``None``: not all received)."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            at = start
            while True:
                eol = self.buffer.find(b"\r\n", at)
                if eol < 0:
                    return None
                size_text = bytes(self.buffer[at:eol]).split(b";")[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise _BadRequest(400, "A chunk size is not hexadecimal.") from None
                if size == 0:  # the last chunk, then trailers (if any) and an empty line
                    end = self.buffer.find(b"\r\n\r\n", eol)
                    return None if end < 0 else end + 4
                at = eol + 2 + size + 2
                if at - start > MAX_BODY_BYTES:
                    raise _BadRequest(413, "The request body is too large.")
                if at > len(self.buffer):
                    return None
        length_text = headers.get("content-length")
        if length_text is None:
            return start
        if not length_text.isdigit():
            raise _BadRequest(400, "Content-Length is not a number.")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise _BadRequest(413, "The request body is too large.")
        end = start + length
        return end if end <= len(self.buffer) else None

    def _next_request(self) -> tuple[bytes, bool] | None:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise _BadRequest(431, "The request's headers are too large.")
            return None
        if head_end > MAX_HEAD_BYTES:
            raise _BadRequest(431, "The request's headers are too large.")
        lines = bytes(self.buffer[:head_end]).decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "The request line is not HTTP/1.x.")
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise _BadRequest(400, "A header line is malformed.")
            name = name.lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        end = self._body_end(head_end + 4, headers)
        if end is None:
            return None
        del self.buffer[:end]
        connection = headers.get("connection", "").lower()
        keep_alive = (
            "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        )
        path = target.split("?", 1)[0]
        head = method == "HEAD"
        if path == "/authz" or path.startswith("/authz/"):
            status, answer, body, content_type = self.answerer.authz(headers, path)
        elif path == "/healthz" and method in ("GET", "HEAD"):
            status, body = self.answerer.healthz()
            answer, content_type = [("cache-control", "no-store")], "application/json"
        else:
            status, answer, content_type = 404, [], "application/problem+json"
            body = _problem(404, "not_found", "The mirror answers /authz and /healthz.", path)
        response = _response(status, answer, body, content_type, keep_alive=keep_alive, head=head)
        return response, keep_alive


def _parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("--listen is HOST:PORT")
    return host.strip("[]"), int(port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.mirror",
        description=f"Answer the gateway check locally (the service key in {KEY_ENV}).",
    )
    parser.add_argument("--service", required=True, help="The service's base URL.")
    parser.add_argument("--listen", required=True, type=_parse_listen, help="HOST:PORT")
    parser.add_argument("--state-file", required=True, help="Where the list is kept.")
    parser.add_argument(
        "--max-stale",
        type=float,
        default=DEFAULT_MAX_STALE,
        help=f"Seconds without a sync before the list is stale (default {DEFAULT_MAX_STALE:g}).",
    )
    parser.add_argument(
        "--on-stale",
        choices=("allow", "deny"),
        default="allow",
        help="Past --max-stale: keep answering from the list (allow) or refuse all (deny).",
    )
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, help="Seconds between polls of the feed."
    )
    return parser


async def serve(answerer: Answerer, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    open_transports: set[asyncio.Transport] = set()
    server = await loop.create_server(
        lambda: HttpProtocol(answerer, open_transports), host, port, backlog=1024
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Event loops without POSIX signals (Windows') raise this: Ctrl-C still stops the
        # process there through KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    logger.info("answering on %s:%d", host, port)
    await stop.wait()
    logger.info("stopping")
    server.close()
    for transport in list(open_transports):
        transport.close()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        print(f"gateway.mirror: set the service key in {KEY_ENV}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=os.environ.get("TSCASE_MIRROR_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    host, port = args.listen
    try:
        client = DenyListClient(
            args.service, key, state_file=args.state_file, poll_interval=args.poll_interval
        )
    except ValueError as exc:
        print(f"gateway.mirror: {exc}", file=sys.stderr)
        return 2
    client.load_state()
    answerer = Answerer(client, max_stale=args.max_stale, on_stale=args.on_stale)
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]  # optional

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        logger.info("event loop: uvloop")
    except ImportError:
        logger.info("event loop: asyncio")
    client.start()
    try:
        asyncio.run(serve(answerer, host, port))
    except OSError as exc:
        print(f"gateway.mirror: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
