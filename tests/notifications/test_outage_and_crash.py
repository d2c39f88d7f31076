"""Acceptance 3 and 4, on PostgreSQL + Redis with real Celery worker processes.

Run with ``DATABASE_URL=postgres://...`` and ``CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>``
(the Redis database is flushed: give these tests one of their own). Elsewhere they skip.
The workers are subprocesses (``celery -A config worker``) on the test database; this process
publishes to Redis like the web process would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email import message_from_string
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from accounts.models import Account, Channel, Partner
from cases.actions import Suspend
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.models import Notice
from notifications.tasks import breaker_reset, notices_sweep
from tests.conftest import celery_use_broker

from .conftest import Receiver, make_endpoint

REDIS_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 1, "socket_timeout": 5}
UNREACHABLE = "redis://127.0.0.1:1/4"  # nothing listens on port 1: the broker is "down"


@pytest.fixture
def redis_url(require_postgres: None) -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("needs Redis: CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>")
    redis.Redis.from_url(url).flushdb()
    return url


def _database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def start_worker(
    transactional_db: Any, redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, pool: str = "threads", **env: str) -> subprocess.Popen[bytes]:
        environment = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": redis_url,
            "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(tmp_path / "mail"),
            **env,
        }
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(  # our own worker, fixed arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                f"--pool={pool}",
                "--concurrency=8" if pool == "threads" else "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{name}@%h",
                "-l",
                "INFO",
            ],
            cwd=django_settings.BASE_DIR,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until(
    check: Callable[[], bool], timeout: float, every: Callable[[], None] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if every is not None:
            every()
        time.sleep(0.5)
    raise AssertionError("timed out")


def mailed_notice_ids(folder: Path) -> list[str]:
    ids = []
    for path in folder.glob("*.log"):
        for chunk in path.read_text().split("-" * 79):
            if chunk.strip():
                ids.append(message_from_string(chunk.strip())["X-Notice-Id"])
    return ids


@pytest.mark.parametrize("count", [200, 1000])
def test_notices_recorded_while_the_broker_is_down_are_all_delivered_once_it_is_back(
    count: int,
    start_worker: Callable[..., subprocess.Popen[bytes]],
    redis_url: str,
    partner: Partner,
    actors: dict[str, Actor],
    policies: Any,
    receiver: Receiver,
    settings: Any,
    tmp_path: Path,
    capsys: Any,
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    _, receiver.secret = make_endpoint(receiver.url, partner, ["enforcement.suspended"])
    celery_use_broker(UNREACHABLE, REDIS_OPTIONS)

    started = time.monotonic()
    for n in range(count):
        account = Account.objects.create(external_id=f"acct-{n:04}", contacts=[f"ops@{n}.test"])
        Channel.objects.create(account=account, partner=partner)
        case = case_open(account=account, summary="Burst", actor=actors["analyst"])
        case_transition(
            case=case,
            command=Suspend(reason="Evasion", policies=["rate-limit-evasion"]),
            actor=actors["analyst"],
        )
    elapsed = time.monotonic() - started

    assert Account.objects.filter(enforcement_status="suspended").count() == count
    assert Notice.objects.count() == 2 * count
    assert Notice.objects.exclude(status="pending").exists() is False
    assert elapsed < count * 0.6, f"{count} transitions took {elapsed:.0f}s with the broker down"
    assert redis.Redis.from_url(redis_url).llen("celery") == 0  # nothing reached the broker

    celery_use_broker(redis_url, REDIS_OPTIONS)
    breaker_reset()
    start_worker("outage")
    notices_sweep.delay()
    wait_until(
        lambda: Notice.objects.filter(status="delivered").count() == 2 * count,
        timeout=60 + count * 0.6,
    )

    webhook_ids = sorted(n.webhook_id for n in Notice.objects.filter(channel="webhook"))
    received = receiver.ids()
    with capsys.disabled():  # the report shows in CI's output
        print(
            f"\nbroker outage, {count} suspensions: notices recorded {Notice.objects.count()}, "
            f"delivered {Notice.objects.filter(status='delivered').count()}, "
            f"webhook ids received twice {len(received) - len(set(received))}, "
            f"lost {len(set(webhook_ids) - set(received))}"
        )
    assert len(webhook_ids) == count
    assert sorted(received) == webhook_ids  # each exactly once
    assert all(d.verified for d in receiver.deliveries)
    mailed = mailed_notice_ids(tmp_path / "mail")
    assert sorted(mailed) == sorted(str(n.pk) for n in Notice.objects.filter(channel="email"))


def test_delivery_interrupted_by_a_killed_worker_is_retried_after_its_lease(
    start_worker: Callable[..., subprocess.Popen[bytes]],
    redis_url: str,
    account: Account,
    partner: Partner,
    actors: dict[str, Actor],
    policies: Any,
    receiver: Receiver,
    settings: Any,
    capsys: Any,
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    _, receiver.secret = make_endpoint(receiver.url, partner, ["enforcement.suspended"])
    receiver.responses = ["block_first"]
    celery_use_broker(redis_url, REDIS_OPTIONS)
    lease = {"NOTICE_LEASE_SECONDS": "3", "WEBHOOK_TIMEOUT_SECONDS": "60"}
    doomed = start_worker("doomed", pool="solo", **lease)

    case = case_open(account=account, summary="Scraping", actor=actors["analyst"])
    case_transition(
        case=case,
        command=Suspend(reason="Evasion", policies=["rate-limit-evasion"]),
        actor=actors["analyst"],
    )
    webhook = Notice.objects.get(case=case, channel="webhook")
    assert receiver.first_arrived.wait(60), "the first worker never delivered"
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    webhook.refresh_from_db()
    assert webhook.status == "sending"  # claimed by the dead worker, not delivered

    start_worker("rescuer", **lease)
    wait_until(
        lambda: Notice.objects.filter(case=case).exclude(status="delivered").exists() is False,
        timeout=90,
        every=lambda: notices_sweep.delay(),
    )

    webhook.refresh_from_db()
    with capsys.disabled():  # the report shows in CI's output
        print(
            f"\nworker killed mid-delivery: notices recorded "
            f"{Notice.objects.filter(case=case).count()}, delivered "
            f"{Notice.objects.filter(case=case, status='delivered').count()}, requests at the "
            f"receiver {len(receiver.ids())} carrying {len(set(receiver.ids()))} webhook id"
        )
    assert webhook.status == "delivered"
    # The killed attempt reached the receiver before the worker died: the retry carries the
    # same webhook-id, so the receiver sees one event, delivered at least once.
    assert receiver.ids() == [webhook.webhook_id, webhook.webhook_id]
    assert all(d.verified for d in receiver.deliveries)
    attempts = list(webhook.attempts_log.order_by("at", "id"))
    assert attempts[0].error.startswith("worker lost")
    assert attempts[-1].succeeded is True
    assert webhook.attempts == 2
