"""The outbox: tasks take ids and can run twice; the sweep requeues what was never sent or was
abandoned; a broker that is down never fails a transition; manual redelivery."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Account
from cases.actions import Suspend
from cases.services import case_open, case_transition
from core.actors import Actor
from core.errors import Forbidden
from notifications.errors import RedeliveryNotAllowed
from notifications.models import DeliveryAttempt, Notice
from notifications.services import notice_redeliver
from notifications.tasks import notice_send, notices_sweep
from tests.conftest import celery_use_broker


def suspend(account: Account, actors: dict[str, Actor]) -> list[Notice]:
    case = case_open(account=account, summary="Scraping", actor=actors["analyst"])
    case_transition(
        case=case,
        command=Suspend(reason="Evasion", policies=["rate-limit-evasion"]),
        actor=actors["analyst"],
    )
    return list(Notice.objects.filter(case=case).order_by("recipient"))


def test_running_the_task_twice_sends_once(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    notice = suspend(account, actors)[0]
    assert notice_send(str(notice.pk)) == "delivered"
    assert notice_send(str(notice.pk)) is None
    assert len(mail.outbox) == 1
    assert DeliveryAttempt.objects.filter(notice=notice).count() == 1


def test_task_with_unknown_or_bad_id_does_nothing(db: Any) -> None:
    assert notice_send("00000000-0000-0000-0000-000000000000") is None
    assert notice_send("not-a-uuid") is None


def test_notice_held_by_a_live_lease_is_not_sent_again(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    notice = suspend(account, actors)[0]
    Notice.objects.exclude(pk=notice.pk).update(status="delivered")
    Notice.objects.filter(pk=notice.pk).update(
        status="sending", locked_until=timezone.now() + timedelta(minutes=2)
    )
    assert notice_send(str(notice.pk)) is None
    assert notices_sweep() == 0
    assert mail.outbox == []


def test_notice_abandoned_by_a_dead_worker_is_retried_after_its_lease(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    notice = suspend(account, actors)[0]
    Notice.objects.exclude(pk=notice.pk).update(status="delivered")
    Notice.objects.filter(pk=notice.pk).update(
        status="sending", attempts=1, locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert notices_sweep() == 1
    assert notice_send(str(notice.pk)) == "delivered"
    notice.refresh_from_db()
    assert notice.attempts == 2
    lost, sent = notice.attempts_log.order_by("at", "id")
    assert lost.error.startswith("worker lost")
    assert sent.succeeded is True
    assert len(mail.outbox) == 1


def test_sweep_queues_each_due_notice_once_until_it_is_taken(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    notices = suspend(account, actors)
    assert notices_sweep() == len(notices)
    assert notices_sweep() == 0
    assert Notice.objects.filter(queued_at__isnull=True).exists() is False


def test_sweep_leaves_retries_that_are_not_due(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    notice = suspend(account, actors)[0]
    Notice.objects.exclude(pk=notice.pk).update(status="delivered")
    Notice.objects.filter(pk=notice.pk).update(
        status="retrying", next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    assert notices_sweep() == 0
    assert notice_send(str(notice.pk)) is None


def test_transitions_succeed_and_fail_fast_while_the_broker_is_unreachable(
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    celery_use_broker("redis://127.0.0.1:1/4", {"socket_connect_timeout": 1, "socket_timeout": 1})
    started = time.monotonic()
    for n in range(5):
        acct = Account.objects.create(external_id=f"acct-{n}", contacts=[f"ops@{n}.test"])
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            suspend(acct, actors)
        assert callbacks
    assert time.monotonic() - started < 6  # one failed publish; the breaker skips the rest
    assert Notice.objects.count() == 5
    assert Notice.objects.filter(status="pending", queued_at__isnull=True).count() == 5


def test_redeliver_sends_a_failed_notice_again_with_the_same_id(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    notice = suspend(account, actors)[0]
    Notice.objects.filter(pk=notice.pk).update(status="failed", attempts=9, last_error="x")
    with pytest.raises(Forbidden):
        notice_redeliver(notice_id=notice.pk, actor=actors["analyst"])
    again = notice_redeliver(notice_id=notice.pk, actor=actors["investigator"])
    assert (again.status, again.attempts, again.redelivered_by) == ("pending", 0, "investigator")
    assert notice_send(str(notice.pk)) == "delivered"
    assert mail.outbox[0].extra_headers["Message-ID"].startswith(f"<notice-{notice.pk.hex}@")


def test_redeliver_refuses_a_notice_still_on_its_way(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    notice = suspend(account, actors)[0]
    with pytest.raises(RedeliveryNotAllowed):
        notice_redeliver(notice_id=notice.pk, actor=actors["lead"])


def test_failing_mail_backend_is_retried(
    account: Account, actors: dict[str, Actor], policies: Any, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1
    notice = suspend(account, actors)[0]
    assert notice_send(str(notice.pk)) == "retrying"
    notice.refresh_from_db()
    assert notice.next_attempt_at > timezone.now()
    assert "ConnectionRefused" in notice.last_error
