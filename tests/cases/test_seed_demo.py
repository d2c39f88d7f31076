"""The demo's data: the command runs on an empty database, and what it makes is what a newcomer
is told to look at (a restricted account, a warning, decisions behind every enforcement)."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from accounts.authentication import client_for_key
from accounts.models import Account, ApiClient, Partner
from cases.models import ApprovalRequest, CannedReason, Case, Decision
from cases.selectors import enforcement_get
from cases.workflow import ACTIONS
from notifications.crypto import secret_decrypt
from notifications.models import Notice, Propagation, WebhookEndpoint


@pytest.mark.django_db
def test_the_demo_shows_each_kind_of_enforcement(settings: Any, tmp_path: Any) -> None:
    settings.EMAIL_FILE_PATH = str(tmp_path)
    call_command("seed_demo")

    restricted = enforcement_get(external_id="soylent-ai")
    assert restricted is not None
    assert restricted["status"] == "restricted"
    assert restricted["restrictions"][0]["requests_per_minute"] == 10
    assert restricted["until"] is not None
    assert Decision.objects.filter(account__external_id="hooli", kind="warn").exists()
    pending = ApprovalRequest.objects.get(state="pending")
    assert pending.case.account.external_id == "massive-dynamic"
    assert pending.case.state == "investigated" and pending.proposed_by_label == "lead2"
    terminated = Decision.objects.get(account__external_id="vandelay", kind="terminate")
    assert terminated.approvals.get().decided_by_label == "lead2"
    for account in Account.objects.exclude(enforcement_status="active"):
        assert Decision.objects.filter(account=account).exists(), account.external_id


@pytest.mark.django_db
def test_the_demo_has_a_canned_reason_for_each_action_once(settings: Any, tmp_path: Any) -> None:
    settings.EMAIL_FILE_PATH = str(tmp_path)
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())

    reasons = list(CannedReason.objects.filter(active=True))
    assert len(reasons) == CannedReason.objects.count() >= len(ACTIONS)
    for action in ACTIONS:
        assert any(r.applies_to(action) for r in reasons), action


SANDBOX = "http://127.0.0.1:8201"


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.fixture
def demo_settings(settings: Any, tmp_path: Path) -> Path:
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    settings.VAR_DIR = tmp_path
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    return tmp_path / "partner_sandbox.json"


@pytest.mark.django_db
def test_without_the_sandbox_the_demo_registers_no_endpoint(demo_settings: Path) -> None:
    output = seed()

    assert "PARTNER_SANDBOX_URL is not set" in output
    assert WebhookEndpoint.objects.exists() is False
    assert ApiClient.objects.exists() is False
    assert demo_settings.exists() is False
    assert set(Partner.objects.values_list("code", "contact_email")) == {
        ("cloudco", "abuse@cloudco.example"),
        ("resellnet", "trust@resellnet.example"),
    }


@pytest.mark.django_db
def test_with_the_sandbox_each_demo_partner_has_an_endpoint_a_key_and_its_changes(
    demo_settings: Path, settings: Any
) -> None:
    settings.PARTNER_SANDBOX_URL = SANDBOX

    seed()

    endpoints = {e.partner.code: e for e in WebhookEndpoint.objects.select_related("partner")}
    assert {code: e.url for code, e in endpoints.items()} == {
        "cloudco": f"{SANDBOX}/cloudco",
        "resellnet": f"{SANDBOX}/resellnet",
    }
    assert all(e.active and "enforcement.suspended" in e.event_types for e in endpoints.values())
    assert stat.S_IMODE(demo_settings.stat().st_mode) == 0o600
    entries = {p["code"]: p for p in json.loads(demo_settings.read_text())["partners"]}
    assert {code: p["outcome"] for code, p in entries.items()} == {
        "cloudco": "applied",
        "resellnet": "declined",
    }
    for code, entry in entries.items():
        assert secret_decrypt(endpoints[code].secret) == entry["secret"]
        client = client_for_key(entry["key"])
        assert client is not None and client.partner_id == endpoints[code].partner_id
    # The story ran after the endpoints existed: its changes are on their way to both.
    states = set(Propagation.objects.values_list("partner__code", "state"))
    assert states == {("cloudco", "pending"), ("resellnet", "pending")}
    assert Notice.objects.filter(channel="webhook", status="pending").count() == (
        Propagation.objects.count()
    )


@pytest.mark.django_db
def test_seeding_again_keeps_endpoints_and_keys_and_follows_a_new_port(
    demo_settings: Path, settings: Any
) -> None:
    settings.PARTNER_SANDBOX_URL = SANDBOX
    seed()
    first = json.loads(demo_settings.read_text())
    endpoints = sorted(WebhookEndpoint.objects.values_list("pk", flat=True))

    seed()
    assert json.loads(demo_settings.read_text()) == first
    assert ApiClient.objects.count() == 2

    settings.PARTNER_SANDBOX_URL = "http://127.0.0.1:8301"
    demo_settings.unlink()  # a lost file: the keys are issued again, the old ones revoked
    seed()

    assert sorted(WebhookEndpoint.objects.values_list("pk", flat=True)) == endpoints
    assert set(WebhookEndpoint.objects.values_list("url", flat=True)) == {
        "http://127.0.0.1:8301/cloudco",
        "http://127.0.0.1:8301/resellnet",
    }
    again = {p["code"]: p for p in json.loads(demo_settings.read_text())["partners"]}
    before = {p["code"]: p for p in first["partners"]}
    for code in ("cloudco", "resellnet"):
        assert again[code]["secret"] == before[code]["secret"]
        assert client_for_key(before[code]["key"]) is None
        assert client_for_key(again[code]["key"]) is not None
    assert ApiClient.objects.filter(revoked_at__isnull=True).count() == 2
    assert Case.objects.count() == 10  # the story once


@pytest.mark.django_db
def test_a_sandbox_added_to_an_older_demo_says_the_story_predates_it(
    demo_settings: Path, settings: Any
) -> None:
    seed()
    settings.PARTNER_SANDBOX_URL = SANDBOX

    output = seed()

    assert "make clean && make run" in output
    assert WebhookEndpoint.objects.count() == 2
    assert Propagation.objects.filter(state="pending").exists() is False
    assert "make clean" not in seed()
