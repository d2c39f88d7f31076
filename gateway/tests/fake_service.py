"""A fake of the service's side of the contract (gateway.md), served over loopback: the
snapshot (NDJSON, optionally cut short), the feed (ETag / If-None-Match / 304, 410 past a
retention horizon), checking the bearer key. Its ``changes`` can be edited by the tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

KEY = "tsk_test.secret"


class FakeService:
    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}  # external id -> snapshot row
        self.changes: list[dict[str, Any]] = []
        self.horizon = 0  # changes with seq <= horizon are pruned: a cursor below it gets 410
        self.cut_snapshot = False
        self.snapshot_cursor: int | None = None
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.feed_override: list[dict[str, Any]] | None = None
        self.lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                with service.lock:
                    service.requests.append((self.path, dict(self.headers.items())))
                if self.headers.get("Authorization") != f"Bearer {KEY}":
                    body = json.dumps({"code": "authentication_failed"}).encode()
                    self._send(401, body, {"Content-Type": "application/problem+json"})
                    return
                url = urlsplit(self.path)
                if url.path == "/api/v1/enforcement/snapshot":
                    self._snapshot()
                elif url.path == "/api/v1/enforcement/changes":
                    query = parse_qs(url.query)
                    self._changes(int(query["after"][0]), int(query.get("limit", ["100"])[0]))
                else:
                    self._send(404, b"{}", {"Content-Type": "application/problem+json"})

            def _snapshot(self) -> None:
                with service.lock:
                    cursor = (
                        service.snapshot_cursor
                        if service.snapshot_cursor is not None
                        else service.head()
                    )
                    rows = list(service.accounts.values())
                lines = [json.dumps({"cursor": str(cursor), "accounts": len(rows)})]
                lines += [json.dumps(r) for r in rows]
                if not service.cut_snapshot:
                    lines.append(
                        json.dumps({"end": True, "accounts": len(rows), "cursor": str(cursor)})
                    )
                body = ("\n".join(lines) + "\n").encode()
                self._send(200, body, {"Content-Type": "application/x-ndjson"})

            def _changes(self, after: int, limit: int) -> None:
                with service.lock:
                    if service.feed_override is not None:
                        page = service.feed_override
                        more = False
                    else:
                        later = [c for c in service.changes if c["seq"] > after]
                        page, more = later[:limit], len(later) > limit
                    expired = after < service.horizon
                if expired:
                    body = json.dumps({"status": 410, "code": "cursor_expired"}).encode()
                    self._send(410, body, {"Content-Type": "application/problem+json"})
                    return
                last = page[-1]["seq"] if page else after
                etag = f'"feed-{after}-{limit}-{last}"'
                if not page and self.headers.get("If-None-Match") == etag:
                    self._send(304, b"", {"ETag": etag})
                    return
                body = json.dumps({"results": page, "next": str(last), "has_more": more}).encode()
                self._send(200, body, {"Content-Type": "application/json", "ETag": etag})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def head(self) -> int:
        return self.changes[-1]["seq"] if self.changes else 0

    def change(self, account: str, status: str, restrictions: list[dict[str, Any]]) -> int:
        """Record a change (the account's snapshot row follows it); returns its seq."""
        with self.lock:
            seq = self.head() + 1
            self.changes.append(
                {"seq": seq, "account": account, "status": status, "restrictions": restrictions}
            )
            if status == "active":
                self.accounts.pop(account, None)
            else:
                self.accounts[account] = {
                    "account": account,
                    "status": status,
                    "restrictions": restrictions,
                }
        return seq

    def feed_requests(self) -> list[tuple[str, dict[str, str]]]:
        with self.lock:
            return [r for r in self.requests if r[0].startswith("/api/v1/enforcement/changes")]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def suspension(decision: str, ends_at: str | None = None) -> dict[str, Any]:
    return {
        "kind": "suspension",
        "models": [],
        "features": [],
        "requests_per_minute": None,
        "tokens_per_minute": None,
        "starts_at": "2026-01-01T00:00:00.000000Z",
        "ends_at": ends_at,
        "decision": decision,
        "case": 1,
    }


def model_block(decision: str, *models: str) -> dict[str, Any]:
    return {**suspension(decision), "kind": "model_block", "models": list(models)}


def rate_limit(decision: str, rpm: int, tpm: int | None = None) -> dict[str, Any]:
    return {
        **suspension(decision),
        "kind": "rate_limit",
        "requests_per_minute": rpm,
        "tokens_per_minute": tpm,
    }
