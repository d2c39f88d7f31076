"""Two sweeps or two workers at once never take the same notice (PostgreSQL)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection

from accounts.models import Account
from cases.actions import Suspend
from cases.services import case_open, case_transition
from config.schedule import PERIODIC_TASKS
from core.actors import Actor
from notifications.delivery import notice_claim, notices_due_claim
from notifications.models import Notice
from notifications.tasks import notices_enqueue
from tests.conftest import celery_use_broker


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = work(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def record(actors: dict[str, Actor], accounts: int) -> list[Notice]:
    for n in range(accounts):
        account = Account.objects.create(
            external_id=f"c-{n}", contacts=[f"a@{n}.test", f"b@{n}.test"]
        )
        case = case_open(account=account, summary="x", actor=actors["analyst"])
        case_transition(
            case=case,
            command=Suspend(reason="y", policies=["rate-limit-evasion"]),
            actor=actors["analyst"],
        )
    return list(Notice.objects.all())


def test_concurrent_sweeps_claim_disjoint_notices(
    require_postgres: None, transactional_db: Any, actors: dict[str, Actor], policies: Any
) -> None:
    notices = record(actors, 20)
    Notice.objects.update(queued_at=None)
    batches = in_threads(4, lambda i: notices_due_claim(limit=15))
    taken = [pk for batch in batches for pk in batch]
    assert len(taken) == len(set(taken)) == len(notices)


def test_concurrent_workers_claim_a_notice_once(
    require_postgres: None, transactional_db: Any, actors: dict[str, Actor], policies: Any
) -> None:
    notice = record(actors, 1)[0]
    claims = in_threads(6, lambda i: notice_claim(notice.pk))
    assert sum(c is not None for c in claims) == 1


def test_publishing_to_a_broker_that_never_answers_fails_fast(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    tarpit = socket.socket()
    tarpit.bind(("127.0.0.1", 0))
    tarpit.listen(16)
    try:
        port = tarpit.getsockname()[1]
        celery_use_broker(
            f"redis://127.0.0.1:{port}/4", {"socket_connect_timeout": 1, "socket_timeout": 1}
        )
        notices = record(actors, 1)
        started = time.monotonic()
        notices_enqueue([n.pk for n in notices])
        assert time.monotonic() - started < 8
        assert Notice.objects.filter(queued_at__isnull=False).exists() is False
    finally:
        tarpit.close()


def test_the_sweep_runs_every_30_seconds() -> None:
    [sweep] = [p for p in PERIODIC_TASKS if p.task == "notifications.tasks.notices_sweep"]
    assert sweep.every_seconds == 30
