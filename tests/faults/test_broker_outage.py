"""The broker goes away for a minute while a real worker and a real beat run, then comes back.

A TCP proxy in front of Redis stands in for the broker: stopping it drops the worker's and beat's
connections and refuses new ones, as a Redis restart does, without touching the Redis that other
processes share. Suspensions made meanwhile must not wait on the broker (publishing fails fast,
the notices stay in the outbox); the worker and beat must ride out the outage and, once the
broker is back, beat's outbox sweep and the worker deliver every notice, each webhook exactly
once per ``webhook-id``, without anyone restarting anything.

Run with ``DATABASE_URL=postgres://...`` and ``CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>``;
elsewhere it skips. It takes about two minutes.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.models import Account, Channel, Partner
from cases.actions import Suspend
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.models import Notice
from tests.conftest import celery_use_broker
from tests.notifications.conftest import Receiver, make_endpoint, serving

from .processes import CeleryProcesses, wait_until
from .proxy import Proxy

pytestmark = [pytest.mark.postgres]

OUTAGE_SECONDS = 60.0
SWEEP = "notifications.tasks.notices_sweep"
# As the settings' Redis options: publishing gives up after the connection timeout.
REDIS_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2.0, "socket_timeout": 5.0}


@pytest.fixture
def broker(require_postgres: None, transactional_db: Any) -> Iterator[tuple[Proxy, str]]:
    """A proxy in front of the Redis broker, and the broker URL that goes through it."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("needs Redis: CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>")
    parts = urlsplit(url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 6379))
    proxy.up()
    yield proxy, f"redis://127.0.0.1:{proxy.port}{parts.path or '/0'}"
    proxy.down()


@pytest.fixture
def celery(broker: tuple[Proxy, str], tmp_path: Path) -> Iterator[CeleryProcesses]:
    processes = CeleryProcesses(tmp_path, broker[1])
    yield processes
    processes.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving() as rec:
        yield rec


def sweep_every_two_seconds() -> None:
    """Only the outbox sweep is scheduled, every 2 s instead of 30 s (a shorter test)."""
    call_command("setup_periodic_tasks", stdout=io.StringIO())
    PeriodicTask.objects.exclude(task=SWEEP).update(enabled=False)
    every, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task=SWEEP).update(interval=every)


def suspend(n: int, partner: Partner, actor: Actor) -> float:
    """Open and suspend a case of a new account; returns how long the suspension took."""
    account = Account.objects.create(external_id=f"outage-{n:03}", contacts=[f"ops@{n}.test"])
    Channel.objects.create(account=account, partner=partner)
    case = case_open(account=account, summary="Burst", actor=actor)
    started = time.monotonic()
    case_transition(
        case=case, command=Suspend(reason="Evasion", policies=["rate-limit-evasion"]), actor=actor
    )
    return time.monotonic() - started


def test_worker_and_beat_ride_out_a_broker_outage_and_deliver_everything_once(
    broker: tuple[Proxy, str],
    celery: CeleryProcesses,
    receiver: Receiver,
    partner: Partner,
    actors: dict[str, Actor],
    policies: Any,
    settings: Any,
    capsys: Any,
) -> None:
    proxy, url = broker
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    _, receiver.secret = make_endpoint(receiver.url, partner, ["enforcement.suspended"])
    sweep_every_two_seconds()
    celery_use_broker(url, REDIS_OPTIONS)  # this process publishes as the web process does
    worker = celery.worker("outage-worker")
    beat = celery.beat()

    # Before the outage: the worker consumes and delivers.
    suspend(0, partner, actors["analyst"])
    wait_until(lambda: Notice.objects.filter(status="delivered").count() == 2, timeout=60)

    proxy.down()
    outage_began = time.monotonic()
    took: list[float] = []
    while time.monotonic() - outage_began < OUTAGE_SECONDS:
        took.append(suspend(len(took) + 1, partner, actors["analyst"]))
        time.sleep(0.5)
    assert worker.poll() is None, "the worker exited during the outage:\n" + celery.log(
        "outage-worker"
    )
    assert beat.poll() is None, "beat exited during the outage:\n" + celery.log("beat")
    during = len(took)
    recorded = 2 * (during + 1)
    assert Notice.objects.count() == recorded
    assert Notice.objects.filter(status="delivered").count() == 2  # nothing went out meanwhile

    proxy.up()
    recovered = wait_until(
        lambda: Notice.objects.filter(status="delivered").count() == recorded, timeout=120
    )

    webhook_ids = sorted(n.webhook_id for n in Notice.objects.filter(channel="webhook"))
    received = receiver.ids()
    with capsys.disabled():  # the report shows in CI's output
        print(
            f"\nbroker outage of {OUTAGE_SECONDS:.0f} s with a running worker and beat: "
            f"{during} suspensions meanwhile (slowest {max(took):.1f} s), "
            f"notices recorded {recorded}, delivered "
            f"{Notice.objects.filter(status='delivered').count()} within {recovered:.0f} s of "
            f"the broker's return, webhook ids received twice "
            f"{len(received) - len(set(received))}, lost {len(set(webhook_ids) - set(received))}, "
            f"worker restarts 0"
        )
    assert worker.poll() is None and beat.poll() is None  # the same processes, never restarted
    assert "Unrecoverable error" not in celery.log("outage-worker")
    assert sorted(received) == webhook_ids  # each exactly once
    assert len(webhook_ids) == during + 1
    assert all(d.verified for d in receiver.deliveries)
    # Publishing failed fast: a suspension waited at most about the connection timeout.
    assert max(took) < 2 * float(settings.CELERY_BROKER_CONNECTION_TIMEOUT) + 2
