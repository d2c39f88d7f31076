"""The demo's whole partner loop (partners.md): ``seed_demo`` registers the demo partners'
endpoints on the sandbox, the story's enforcement changes (and one suspension more) are
delivered as signed webhooks, the sandbox verifies each, acknowledges and reports through the
partner API, and every propagation ends ``applied`` for one partner and ``declined`` for the
other. A forged webhook is refused and changes nothing.

The sandbox serves on a free loopback port (its HTTP server in a thread), and its calls to the
partner API go through Django's test client (an ``httpx`` transport), so they run in the test's
transaction; the webhook URL check runs for real, with only the sandbox's origin allowed.
"""

from __future__ import annotations

import importlib.util
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.test import Client
from standardwebhooks.webhooks import Webhook

from accounts.models import Account
from cases.actions import Suspend
from cases.models import Case
from cases.services import case_transition
from config.partner_sandbox import Running, Sandbox
from core.actors import Actor
from notifications.crypto import secret_generate
from notifications.models import Notice, Propagation
from tests.notifications.conftest import drain


class DjangoClientTransport(httpx.BaseTransport):
    """Hands each request to Django's test client, in the calling thread."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        skip = {"host", "content-type", "content-length"}
        response = self.client.generic(
            request.method,
            request.url.raw_path.decode(),
            data=request.read(),
            content_type=request.headers.get("content-type", ""),
            headers={k: v for k, v in request.headers.items() if k.lower() not in skip},
        )
        return httpx.Response(
            response.status_code, headers=dict(response.items()), content=response.content
        )


@pytest.fixture
def sandbox(settings: Any, tmp_path: Path) -> Iterator[Running]:
    http = httpx.Client(transport=DjangoClientTransport(Client()), base_url="http://testserver")
    running = Running(
        Sandbox(
            file=tmp_path / "partner_sandbox.json",
            api="http://testserver",
            report_delay=0,
            http=http,
        )
    ).start(worker=False)  # the test takes the steps itself, in its own thread
    settings.VAR_DIR = tmp_path
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False  # the sandbox's origin only
    settings.PARTNER_SANDBOX_URL = running.url
    settings.SITE_URL = "http://testserver"
    settings.NOTICE_RETRY_SCHEDULE = [0.05, 0.05]
    try:
        yield running
    finally:
        running.close()


def deliver_webhooks() -> list[Notice]:
    notices = list(Notice.objects.filter(channel="webhook").exclude(status="delivered"))
    return [drain(notice) for notice in notices]


@pytest.mark.django_db
def test_the_sandbox_applies_for_one_partner_and_declines_for_the_other(
    sandbox: Running,
) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    case = Case.objects.get(account__external_id="acme-ai", state="flagged")
    case_transition(
        case=case,
        command=Suspend(reason="Distillation harness confirmed", policies=["credential-sharing"]),
        actor=Actor.system("tests"),
    )

    delivered = deliver_webhooks()
    sandbox.sandbox.run_due()

    assert delivered and {n.status for n in delivered} == {"delivered"}
    # Every webhook came through the check and the signature held: none was refused.
    assert sandbox.sandbox.rejected == 0
    rows = list(Propagation.objects.select_related("partner", "change").order_by("seq"))
    assert {p.partner.code for p in rows} == {"cloudco", "resellnet"}
    assert len(rows) == len(delivered)
    for row in rows:
        wanted = "applied" if row.partner.code == "cloudco" else "declined"
        assert row.state == wanted, (row.partner.code, row.change.seq, row.state)
        assert row.delivered_at is not None and row.acknowledged_at is not None
        assert row.reported_at is not None
    applied = [r for r in rows if r.state == "applied"]
    assert {r.partner_reference for r in applied} == {f"CLOUDCO-{r.change.seq}" for r in applied}
    assert all(r.note for r in rows if r.state == "declined")
    suspended = Account.objects.get(external_id="acme-ai")
    assert Propagation.objects.get(account=suspended).state == "applied"
    # Each step was taken once per change and partner.
    assert len(sandbox.sandbox.done) == 2 * len(rows)


@pytest.mark.django_db
def test_the_sandbox_refuses_a_forged_webhook(sandbox: Running) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    change = Propagation.objects.filter(partner__code="cloudco").order_by("seq").first()
    assert change is not None
    body = json.dumps({"type": "enforcement.suspended", "data": {"change": change.change.seq}})
    forger = Webhook(secret_generate())
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_forged",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": forger.sign("msg_forged", now, body),
        "content-type": "application/json",
    }

    answer = httpx.post(f"{sandbox.url}/cloudco", content=body, headers=headers)
    sandbox.sandbox.run_due()

    assert answer.status_code == 401
    assert sandbox.sandbox.rejected == 1
    assert sandbox.sandbox.done == []
    change.refresh_from_db()
    assert (change.state, change.acknowledged_at) == ("pending", None)


def example_module() -> Any:
    """docs/examples/partner_receiver.py, the partner guide's example (not a package)."""
    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "partner_receiver.py"
    spec = importlib.util.spec_from_file_location("partner_receiver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.django_db
def test_the_guides_example_follows_its_feed_to_the_end_once(
    sandbox: Running, tmp_path: Path, capsys: Any
) -> None:
    call_command("seed_demo", stdout=io.StringIO())
    key = next(
        p["key"]
        for p in json.loads((tmp_path / "partner_sandbox.json").read_text())["partners"]
        if p["code"] == "resellnet"
    )
    api = httpx.Client(
        transport=DjangoClientTransport(Client()),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {key}"},
    )
    example = example_module()
    cursor = tmp_path / "cursor.txt"

    first = example.follow(api, "declined", cursor)
    second = example.follow(api, "declined", cursor)

    rows = Propagation.objects.filter(partner__code="resellnet")
    assert first == rows.count() > 0 and second == 0
    assert set(rows.values_list("state", flat=True)) == {"declined"}
    assert cursor.read_text() == str(rows.order_by("-seq").values_list("seq", flat=True)[0])
    # The other partner's changes are not in this feed, and were left alone.
    others = Propagation.objects.filter(partner__code="cloudco")
    assert set(others.values_list("state", flat=True)) == {"pending"}
