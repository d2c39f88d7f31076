"""A partner's receiver trickles its answers, one byte a second, while a real worker with two
processes (as deployed) sends everyone's notices.

Each attempt at the slow receiver must be cut at the attempt's deadline, however the bytes are
paced, and the other partners' webhooks must not wait behind it: the slow endpoint's notices go
out in its own lane, which holds one worker process at most, and every other notice is
delivered before the first slow attempt has even ended.

Run with ``DATABASE_URL=postgres://...`` and ``CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>``;
elsewhere it skips.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accounts.models import Account, Channel, Partner
from cases.actions import Suspend
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.models import DeliveryAttempt, Notice
from tests.conftest import celery_use_broker
from tests.notifications.conftest import Receiver, Trickler, make_endpoint, serving

from .processes import CeleryProcesses, wait_until

pytestmark = [pytest.mark.postgres]

DEADLINE = 5.0
REDIS_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2.0, "socket_timeout": 5.0}


@pytest.fixture
def celery(
    require_postgres: None, transactional_db: Any, tmp_path: Path
) -> Iterator[CeleryProcesses]:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        pytest.skip("needs Redis: CELERY_BROKER_URL=redis://127.0.0.1:6379/<db>")
    celery_use_broker(url, REDIS_OPTIONS)  # this process publishes as the web process does
    processes = CeleryProcesses(
        tmp_path,
        url,
        WEBHOOK_DEADLINE_SECONDS=str(DEADLINE),
        NOTICE_RETRY_SCHEDULE="3600",  # one attempt each within the test
    )
    yield processes
    processes.stop()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with serving() as one, serving() as two:
        yield one, two


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    rec = Trickler(length=60, every=1.0)  # a minute for the whole answer
    yield rec
    rec.close()


def suspend(external_id: str, partners: list[Partner], actor: Actor) -> None:
    account = Account.objects.create(external_id=external_id, contacts=[f"ops@{external_id}.test"])
    for partner in partners:
        Channel.objects.create(account=account, partner=partner)
    case = case_open(account=account, summary="Burst", actor=actor)
    case_transition(
        case=case, command=Suspend(reason="Evasion", policies=["rate-limit-evasion"]), actor=actor
    )


def test_a_trickling_receiver_is_cut_at_the_deadline_and_delays_no_other_endpoint(
    celery: CeleryProcesses,
    receivers: tuple[Receiver, Receiver],
    trickler: Trickler,
    actors: dict[str, Actor],
    policies: Any,
    settings: Any,
    capsys: Any,
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    slowco = Partner.objects.create(code="slowco", name="SlowCo", kind="cloud")
    fastco = Partner.objects.create(code="fastco", name="FastCo", kind="cloud")
    unrelated = Partner.objects.create(code="otherco", name="OtherCo", kind="cloud")
    slow, _ = make_endpoint(trickler.url, slowco, ["enforcement.suspended"])
    fast, unrelated_receiver = receivers
    _, fast.secret = make_endpoint(fast.url, fastco, ["enforcement.suspended"])
    _, unrelated_receiver.secret = make_endpoint(
        unrelated_receiver.url, unrelated, ["enforcement.suspended"]
    )
    worker = celery.worker("slow-receiver", concurrency=2)
    wait_until(lambda: "ready." in celery.log("slow-receiver"), timeout=60)

    started = time.monotonic()
    for n in range(4):  # accounts that reach the API through both the slow and a fast partner
        suspend(f"both-{n}", [slowco, fastco], actors["analyst"])
    suspend("unrelated", [unrelated], actors["analyst"])  # a partner with no link to slowco
    slow_notices = Notice.objects.filter(endpoint=slow)
    others = Notice.objects.exclude(endpoint=slow)

    wait_until(lambda: not others.exclude(status="delivered").exists(), timeout=60)
    others_done = time.monotonic() - started
    wait_until(
        lambda: DeliveryAttempt.objects.filter(notice__endpoint=slow).count() == 4, timeout=90
    )

    slow_attempts = list(DeliveryAttempt.objects.filter(notice__endpoint=slow).order_by("at"))
    latencies = [a.latency_ms or 0 for a in slow_attempts]
    last_other = max(n.delivered_at for n in others if n.delivered_at is not None)
    with capsys.disabled():  # the report shows in CI's output
        print(
            f"\ntrickling receiver (1 byte/s) beside fast ones, worker with 2 processes: "
            f"{len(slow_attempts)} slow attempts cut at {min(latencies)}-{max(latencies)} ms "
            f"(deadline {DEADLINE * 1000:.0f} ms), {others.count()} other notices delivered "
            f"within {others_done:.1f} s, before the first slow attempt ended: "
            f"{last_other < slow_attempts[0].at}"
        )
    assert worker.poll() is None
    # Every attempt at the slow receiver was cut at the deadline, its answer unfinished.
    assert all(a.error.startswith("deadline") and not a.succeeded for a in slow_attempts)
    assert all(DEADLINE * 1000 <= ms < DEADLINE * 1000 + 3000 for ms in latencies)
    assert all(r.sent < trickler.length for r in trickler.requests)
    assert sorted(slow_notices.values_list("status", flat=True)) == ["retrying"] * 4
    # Nobody else waited for it: every other notice (the unrelated partner's included) was
    # delivered before the first attempt at the slow receiver had ended.
    assert others.count() == 4 * 2 + 2  # e-mails and fast webhooks, the unrelated account's two
    assert last_other < slow_attempts[0].at
    received = fast.ids() + unrelated_receiver.ids()
    assert sorted(received) == sorted(n.webhook_id for n in others.filter(channel="webhook"))
    assert all(d.verified for d in fast.deliveries + unrelated_receiver.deliveries)
