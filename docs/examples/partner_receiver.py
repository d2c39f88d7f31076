"""A partner's side of "partners follow suit", in one file (docs/partners.md).

Two ways to hear of our enforcement changes, and what to do with each:

    # 1. Receive webhooks: verify, deduplicate, answer 200 at once, then acknowledge and report.
    python docs/examples/partner_receiver.py serve --port 9000 \\
        --secret whsec_... --key tsk_... --outcome applied

    # 2. Follow your feed with a cursor (catch up after downtime, or instead of webhooks).
    python docs/examples/partner_receiver.py follow --key tsk_... --outcome applied

``--api`` is the service (default http://127.0.0.1:8000); the key and secret may also come
from ``PARTNER_API_KEY`` and ``PARTNER_WEBHOOK_SECRET``. ``--outcome none`` only acknowledges.
Needs ``pip install standardwebhooks httpx``. Where ``apply`` is, your platform would act.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def apply(change: dict[str, Any], outcome: str) -> dict[str, str]:
    """What your platform does about one change; returns the report's body. Here: pretend."""
    if outcome == "applied":
        return {"outcome": "applied", "reference": f"EX-{change['change']}", "note": "Done."}
    return {"outcome": "declined", "note": "Not our customer any more."}


def follow_up(api: httpx.Client, seq: int, change: dict[str, Any], outcome: str) -> None:
    """Acknowledge change ``seq``, act on it, report. Both calls are idempotent: safe to repeat."""
    api.post(f"/api/v1/partner/changes/{seq}/acknowledge", json={}).raise_for_status()
    if outcome == "none":
        return
    answer = api.post(f"/api/v1/partner/changes/{seq}/report", json=apply(change, outcome))
    if answer.status_code == 409:  # reported before, differently: a report is final
        print(f"change {seq}: {answer.json()['detail']}")
        return
    answer.raise_for_status()  # 201 the first time, 200 for the same report again
    print(f"change {seq}: {answer.json()['propagation']['state']}")


def serve(port: int, secret: str, api: httpx.Client, outcome: str) -> None:
    webhook = Webhook(secret)
    seen: set[str] = set()  # keep these in your database: retries reuse the webhook-id
    work: queue.Queue[dict[str, Any]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                event = webhook.verify(body, headers)  # signature, and timestamp within 5 min
            except WebhookVerificationError:
                self.send_response(401)
                self.end_headers()
                return
            if headers["webhook-id"] not in seen:
                seen.add(headers["webhook-id"])
                work.put(event["data"])
            self.send_response(200)  # answer at once; the work happens below
            self.end_headers()

    def worker() -> None:
        while True:
            data = work.get()
            try:
                follow_up(api, data["change"], data, outcome)
            except httpx.HTTPError as exc:
                print(f"change {data['change']}: {exc}; the feed will catch it up")

    threading.Thread(target=worker, daemon=True).start()
    print(f"listening on http://127.0.0.1:{port}/")
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def follow(api: httpx.Client, outcome: str, cursor_file: Path) -> int:
    """Read the feed from the saved cursor to its end; follow up what is not reported yet."""
    after = cursor_file.read_text().strip() if cursor_file.exists() else "0"
    handled = 0
    while True:
        page = api.get("/api/v1/partner/changes", params={"after": after, "limit": 100})
        page.raise_for_status()
        body = page.json()
        for item in body["results"]:
            if item["propagation"]["state"] not in ("applied", "declined"):
                follow_up(api, item["seq"], {"change": item["seq"], **item}, outcome)
                handled += 1
        after = body["next"]
        cursor_file.write_text(after)  # saved after the page is handled: at least once
        if not body["has_more"]:
            return handled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["serve", "follow"])
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--key", default=os.environ.get("PARTNER_API_KEY", ""))
    parser.add_argument("--secret", default=os.environ.get("PARTNER_WEBHOOK_SECRET", ""))
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--outcome", choices=["applied", "declined", "none"], default="applied")
    parser.add_argument("--cursor-file", type=Path, default=Path("partner_cursor.txt"))
    args = parser.parse_args()
    api = httpx.Client(
        base_url=args.api, headers={"Authorization": f"Bearer {args.key}"}, timeout=10
    )
    if args.mode == "serve":
        serve(args.port, args.secret, api, args.outcome)
    else:
        print(json.dumps({"followed_up": follow(api, args.outcome, args.cursor_file)}))


if __name__ == "__main__":
    main()
