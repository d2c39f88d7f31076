"""The database goes away under load on the enforcement endpoint, then comes back.

A TCP proxy in front of PostgreSQL stands in for the server: stopping it drops every connection
and refuses new ones, as a restart does, without touching the PostgreSQL that other processes
share. Requests during the outage must fail fast with a 503 problem (never a 500 or a hang),
recover by themselves once the database is back, and leave nothing half-written.

Run twice: without a cache, and with the shared (Redis) cache. With the cache, an account and key
already in it keep being answered from it during the outage (no change can commit while the
database is down, so the cached answer stays true); anything not cached still fails fast with 503.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.management import call_command
from django.db import close_old_connections, connection
from django.test import Client

from accounts.models import Account
from accounts.services import api_client_create
from cases.actions import Suspend
from cases.models import Case, CaseEvent, EnforcementChange
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.models import Notice
from tests.conftest import redis_cache_use

from .proxy import Proxy

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def proxied(require_postgres: None, transactional_db: Any) -> Any:
    settings_dict = connection.settings_dict
    proxy = Proxy((settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432)))
    proxy.up()
    original = (settings_dict["HOST"], settings_dict["PORT"], settings_dict["OPTIONS"].copy())
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", proxy.port
    settings_dict["OPTIONS"]["connect_timeout"] = 2
    yield proxy
    proxy.down()
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = original[0], original[1]
    settings_dict["OPTIONS"].clear()
    settings_dict["OPTIONS"].update(original[2])


def configure_cache(settings: Any, cached: bool, prefix: str) -> None:
    if not cached:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
        settings.ENFORCEMENT_CACHE_ENABLED = False
        return
    redis_cache_use(settings, prefix)  # this test's own keys, deleted after it


@pytest.mark.parametrize("cached", [False, True], ids=["no-cache", "shared-cache"])
def test_enforcement_fails_fast_during_a_restart_and_recovers(
    proxied: Proxy,
    policies: Any,
    capsys: Any,
    settings: Any,
    cached: bool,
    cache_key_prefix: str,
) -> None:
    configure_cache(settings, cached, cache_key_prefix)
    # gw-0..gw-19 are looked up before the outage; gw-20..gw-39 only during it.
    accounts = [Account.objects.create(external_id=f"gw-{n}") for n in range(40)]
    _, key = api_client_create(name="gateway", scopes=["enforcement:read"])
    victim = case_open(account=accounts[0], summary="burst", actor=Actor.system("test"))
    client = Client(raise_request_exception=False)
    headers = {"Authorization": f"Bearer {key}"}
    seen: dict[str, list[float]] = {"ok": [], "unavailable": []}

    def lookup(n: int) -> int:
        # What Django's handler does at each request start and end (the test client skips it):
        # drop a connection that failed, so the next request connects afresh.
        close_old_connections()
        started = time.monotonic()
        response = client.get(f"/api/v1/enforcement/gw-{n}", headers=headers)
        elapsed = time.monotonic() - started
        assert response.status_code in (200, 503), response.content
        assert response["Content-Type"].startswith(
            "application/json" if response.status_code == 200 else "application/problem+json"
        )
        seen["ok" if response.status_code == 200 else "unavailable"].append(elapsed)
        return response.status_code

    for n in range(50):
        assert lookup(n % 20) == 200

    proxied.down()
    never_seen = [lookup(20 + n % 20) for n in range(50)]
    assert set(never_seen) == {503}
    seen_before = [lookup(n % 20) for n in range(50)]
    assert set(seen_before) == ({200} if cached else {503})
    # A transition during the outage fails as a whole.
    with pytest.raises(Exception):  # noqa: B017  # any database error will do
        case_transition(
            case=victim.pk,
            command=Suspend(reason="r", policies=["rate-limit-evasion"]),
            actor=Actor.system("test"),
        )

    proxied.up()
    deadline = time.monotonic() + 15
    while lookup(20) != 200:  # not cached: needs the database
        assert time.monotonic() < deadline, "did not recover within 15 s"
        time.sleep(0.1)
    for n in range(50):
        assert lookup(n % 40) == 200

    # Nothing half-written: the case is as it was, with its one event and no change or notice.
    victim.refresh_from_db()
    assert victim.state == "flagged"
    assert CaseEvent.objects.filter(case=victim).count() == 1
    assert EnforcementChange.objects.exists() is False
    assert Notice.objects.filter(case=victim, event="suspension").exists() is False
    call_command("verify_audit")
    # And it still works afterwards.
    moved = case_transition(
        case=victim.pk,
        command=Suspend(reason="r", policies=["rate-limit-evasion"]),
        actor=Actor.system("test"),
    )
    assert moved.state == "suspended"
    assert Case.objects.get(pk=victim.pk).state == "suspended"
    slowest_failure = max(seen["unavailable"])
    with capsys.disabled():
        print(
            f"\ndatabase restart ({'shared cache' if cached else 'no cache'}): "
            f"{len(seen['ok'])} lookups answered, "
            f"{len(seen['unavailable'])} refused with 503 (slowest {slowest_failure * 1000:.0f} ms)"
        )
    assert slowest_failure < 3.0
