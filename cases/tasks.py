"""Periodic tasks of the cases app. They take times as ISO strings and call one service each.

Every service here is idempotent (see ``cases.deadlines``), so a redelivered or retried task,
or two beats firing at once, never sends a notice twice.
"""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from . import deadlines
from .services import approvals_sweep as approvals_sweep_service
from .services import restrictions_expire as restrictions_expire_service


def _at(now: str | None) -> datetime:
    return deadlines.parse_now(now) if now else timezone.now()


# A sweep that waited longer than its interval in the queue is dropped: the next one covers it.
@shared_task(expires=55, ignore_result=True)
def deadlines_sweep(now: str | None = None) -> dict[str, int]:
    """Reminders before review deadlines, escalations after them."""
    return deadlines.deadlines_sweep(now=_at(now)).as_dict()


# Every 30 s, so that a restriction's end is recorded within a minute (decisions.md); a run that
# waited longer than that is dropped: the next one covers it.
@shared_task(expires=25, ignore_result=True)
def restrictions_expire(now: str | None = None) -> int:
    """Record the restrictions that reached their ``ends_at``: decision, change, notices."""
    return restrictions_expire_service(now=_at(now))


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    ignore_result=True,
)
def plan_reminders_send(now: str | None = None) -> int:
    """Remind accounts of their remediation plan's deadline."""
    return deadlines.plan_reminders_send(now=_at(now))


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    ignore_result=True,
)
def digests_send(now: str | None = None) -> int:
    """The daily digest of open cases to each staff member who has any."""
    return deadlines.digests_send(now=_at(now))


@shared_task(expires=55, ignore_result=True)
def approvals_sweep(now: str | None = None) -> dict[str, int]:
    """Expire approval requests past their ``expires_at``; remind the other leads before."""
    return approvals_sweep_service(now=_at(now))


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    ignore_result=True,
)
def retention_purge(now: str | None = None) -> dict[str, int]:
    """Delete what is past its retention period and no legal hold keeps; record it."""
    from .services.retention import purge_expired

    return dict(purge_expired(now=_at(now)).counts)
