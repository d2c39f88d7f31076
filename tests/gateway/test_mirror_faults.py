"""The mirror through the service's outages, with real processes: the service as production
runs it (gunicorn on the test database) and a mirror process (``python -m gateway.mirror``)
following it.

The service stopped for 60 s: the mirror answers every request from its list and reports its
staleness. The mirror restarted while the service is down: it answers from its state file. The
service back: the mirror catches up on every change made meanwhile, in order. A cursor past the
feed's retention: the mirror starts again from a snapshot. PostgreSQL only: the service
processes read the database the test writes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from accounts.choices import EnforcementStatus
from accounts.models import Account
from accounts.services import api_client_create
from cases.actions import Dismiss, Investigate, RestrictionSpec, Suspend
from cases.gateway_reads import feed_head
from cases.models import Case, EnforcementChange
from cases.services import case_open, case_transition
from core.actors import Actor
from gateway.verdict import verdict
from tests.audit.test_audit_trail import guard_bypassed
from tests.faults.processes import database_url

from .mirror_process import ROOT, Mirror, free_port

pytestmark = [pytest.mark.postgres]

OUTAGE_SECONDS = 60


class Service:
    """gunicorn serving the service on the test database, on a port that stays the same
    across restarts (the mirror follows one URL)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("CACHE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
            },
            "DATABASE_URL": database_url(),
            "VAR_DIR": str(folder),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.folder / "service.log").open("ab")
        self.process = subprocess.Popen(  # our own server, fixed arguments
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise AssertionError("the service did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def suspend(external_id: str, spec: RestrictionSpec | None = None) -> Case:
    account, _ = Account.objects.get_or_create(external_id=external_id)
    case = case_open(account=account, summary="gateway", actor=Actor.system())
    case_transition(
        case=case,
        command=Suspend(
            reason="r", policies=["rate-limit-evasion"], restriction=spec or RestrictionSpec()
        ),
        actor=Actor.system(),
    )
    return case


def lift(case: Case) -> None:
    """Investigate without a violation, then dismiss: the account is active again."""
    case_transition(
        case=case,
        command=Investigate(findings="no violation", violation_confirmed=False),
        actor=Actor.system(),
    )
    case_transition(case=case, command=Dismiss(reason="false alarm"), actor=Actor.system())


def not_active() -> set[str]:
    return set(
        Account.objects.exclude(enforcement_status=EnforcementStatus.ACTIVE).values_list(
            "external_id", flat=True
        )
    )


def answers(
    mirror: Mirror, accounts: list[str], model: str = "gpt-x"
) -> dict[str, tuple[int, httpx.Headers]]:
    with httpx.Client(base_url=mirror.url, timeout=5) as client:
        found = {}
        for account in accounts:
            response = client.get("/authz", headers={"x-account-id": account, "x-model": model})
            found[account] = (response.status_code, response.headers)
        return found


def assert_mirror_holds_the_service_list(mirror: Mirror) -> None:
    """The mirror's answers agree with the database for every account seen (a request for
    model gpt-x), and it holds exactly the accounts that are not active."""
    stored = dict(Account.objects.values_list("external_id", "enforcement_restrictions"))
    for account, (status, headers) in answers(mirror, list(stored)).items():
        expected = verdict(stored[account], model="gpt-x")
        assert (status == 200) == expected.allowed, (account, status)
        assert headers.get("x-tns-reason") == expected.reason, account
    status, health = mirror.health()
    assert status == 200 and health["accounts"] == len(not_active())


@pytest.fixture
def service(require_postgres: None, transactional_db: Any, tmp_path: Path) -> Iterator[Service]:
    server = Service(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def key(transactional_db: Any) -> str:
    _, value = api_client_create(name="mirror", scopes=["enforcement:read"])
    return value


def test_outage_restart_and_catching_up(
    service: Service, key: str, tmp_path: Path, policies: Any
) -> None:
    bad = suspend("bad-co")
    suspend("model-co", RestrictionSpec(kind="model_block", models=["gpt-x"]))
    Account.objects.create(external_id="good-co")
    mirror = Mirror(service.url, key, tmp_path, max_stale=30)
    try:
        mirror.wait_for_cursor(feed_head())
        assert_mirror_holds_the_service_list(mirror)

        # The service stops for 60 s: every request is still answered, from the list.
        service.stop()
        stopped = time.monotonic()
        while time.monotonic() - stopped < OUTAGE_SECONDS:
            found = answers(mirror, ["bad-co", "good-co", "never-seen"])
            assert found["bad-co"][0] == 403
            assert found["bad-co"][1]["x-tns-reason"] == "suspended"
            assert found["good-co"][0] == 200 and found["never-seen"][0] == 200
            time.sleep(1)
        found = answers(mirror, ["bad-co"])
        assert int(found["bad-co"][1]["x-tns-stale-seconds"]) >= OUTAGE_SECONDS - 1
        assert found["bad-co"][1]["x-tns-stale"] == "true"  # past --max-stale
        status, health = mirror.health()
        assert status == 200 and health["status"] == "stale"
        assert health["stale_seconds"] >= OUTAGE_SECONDS - 1 and health["last_error"]

        # Restarted while the service is down: it answers from its state file.
        cursor = int(health["cursor"])
        mirror.stop()
        mirror = Mirror(service.url, key, tmp_path, max_stale=30, name="mirror-2", port=mirror.port)
        status, health = mirror.health()
        assert status == 200 and int(health["cursor"]) == cursor
        assert health["stale_seconds"] >= OUTAGE_SECONDS - 1
        assert answers(mirror, ["bad-co"])["bad-co"][0] == 403
        assert "state file" in mirror.log()

        # Changes while the service is down, one account changed three times: the last wins.
        lift(bad)
        again = suspend("bad-co")
        suspend("late-co")
        lift(again)
        head = feed_head()
        assert head > cursor + 3
        assert answers(mirror, ["late-co"])["late-co"][0] == 200  # not seen yet

        # The service back: the mirror catches up on every change, in order.
        service.start()
        health = mirror.wait_for_cursor(head, timeout=30)
        assert int(health["cursor"]) == head and health["status"] == "ok"
        assert_mirror_holds_the_service_list(mirror)
        assert answers(mirror, ["bad-co"])["bad-co"][0] == 200
        assert answers(mirror, ["late-co"])["late-co"][0] == 403
        assert "gap" not in mirror.log() and "snapshot:" not in mirror.log()
    finally:
        mirror.stop()


def test_a_cursor_past_the_retention_resyncs_from_a_snapshot(
    service: Service, key: str, tmp_path: Path, policies: Any
) -> None:
    suspend("old-co")
    mirror = Mirror(service.url, key, tmp_path)
    try:
        cursor = int(mirror.wait_for_cursor(feed_head())["cursor"])
        mirror.stop()
        # While the mirror is stopped, changes are made and then fall out of the retention.
        first = suspend("gone-co")
        suspend("new-co")
        lift(first)
        with guard_bypassed(), connection.cursor() as db:
            db.execute(
                "UPDATE cases_enforcementchange SET at = %s WHERE seq > %s",
                [timezone.now() - timedelta(days=40), cursor],
            )
        assert EnforcementChange.objects.filter(seq__gt=cursor).exists()
        mirror = Mirror(service.url, key, tmp_path, name="mirror-2", port=mirror.port)
        mirror.wait_for_cursor(feed_head())
        log = mirror.log()
        assert "410" in log and "starting again from a snapshot" in log
        assert_mirror_holds_the_service_list(mirror)
        assert answers(mirror, ["new-co"])["new-co"][0] == 403
        assert answers(mirror, ["gone-co"])["gone-co"][0] == 200
    finally:
        mirror.stop()
