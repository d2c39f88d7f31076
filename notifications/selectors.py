"""Reads of the notice history, and of the partners' follow-up of enforcement changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from cases.models import Case

from .choices import REPORTED_STATES, FollowUp
from .errors import NoticeNotFound
from .models import DeliveryAttempt, Notice, Propagation


def case_notices_list(case_id: Any) -> QuerySet[Notice]:
    """A case's notices, oldest first, each with its delivery attempts (``attempts_log``).

    Raises ``NoticeNotFound`` (404) if the case does not exist.
    """
    try:
        exists = Case.objects.filter(pk=case_id).exists()
    except (ValueError, TypeError):
        exists = False
    if not exists:
        raise NoticeNotFound(detail=f"Case {case_id} does not exist.")
    return (
        Notice.objects.filter(case_id=case_id)
        .select_related("endpoint")
        .prefetch_related(
            Prefetch("attempts_log", queryset=DeliveryAttempt.objects.order_by("at", "id"))
        )
        .order_by("created_at", "id")
    )


def statement_deliveries(*, reference: str) -> list[dict[str, Any]]:
    """The e-mails that carried the statement ``reference``: to whom, and how delivery went."""
    return [
        {"recipient": recipient, "event": event, "status": status}
        for recipient, event, status in Notice.objects.filter(
            statement_reference=reference, channel="email"
        )
        .order_by("id")
        .values_list("recipient", "event", "status")
    ]


# --- the partners' follow-up ------------------------------------------------------------------


def followup_window(step: str) -> timedelta:
    """How long a partner has for ``step`` (``FollowUp``) after a propagation is made."""
    if step == FollowUp.ACK:
        window: timedelta = settings.PARTNER_ACK_HOURS
    else:
        window = settings.PARTNER_REPORT_DAYS
    return window


def propagations_open() -> QuerySet[Propagation]:
    """The propagations not reported yet: the predicate of the partial index
    ``propagation_open_idx`` (created_at where not applied or declined), written the same way
    so that the planner can use it."""
    return Propagation.objects.exclude(state__in=REPORTED_STATES)


def propagation_overdue_q(step: str, *, now: datetime, times: int = 1) -> Q:
    """Open propagations (with ``propagations_open``) that owe ``step`` for at least ``times``
    its window: the reminder is due at once the window, the escalation at twice."""
    made_by = Q(created_at__lte=now - followup_window(step) * times)
    if step == FollowUp.ACK:
        return made_by & Q(acknowledged_at__isnull=True)
    return made_by


def propagation_overdue_steps(propagation: Propagation, *, now: datetime) -> list[str]:
    """What ``propagation`` is overdue for at ``now`` (the admin's badges), as
    ``propagation_overdue_q`` decides it for a query."""
    if propagation.state in REPORTED_STATES:
        return []
    late: list[str] = [
        step
        for step in (FollowUp.ACK, FollowUp.REPORT)
        if propagation.created_at <= now - followup_window(step)
    ]
    if propagation.acknowledged_at is not None and FollowUp.ACK in late:
        late.remove(FollowUp.ACK)
    return late
