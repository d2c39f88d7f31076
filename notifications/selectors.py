"""Reads of the notice history, and of the partners' follow-up of enforcement changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from cases.models import Case

from .choices import REPORTED_STATES, FollowUp, NoticeStatus
from .errors import NoticeNotFound
from .models import DeliveryAttempt, Notice, Propagation, WebhookEndpoint


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


def propagation_superseded() -> Exists:
    """Whether a propagation is superseded: the same partner has since been sent a later
    change of the same account (a higher partner-feed ``seq``), so the state it carried is no
    longer the account's. The partner may still acknowledge and report it, but it is not
    chased: the follow-up is owed on the latest change only. Read through the index on
    ``(partner, seq)``."""
    return Exists(
        Propagation.objects.filter(
            partner=OuterRef("partner"), account=OuterRef("account"), seq__gt=OuterRef("seq")
        )
    )


def propagations_annotated(queryset: QuerySet[Propagation]) -> QuerySet[Propagation]:
    """``queryset`` with ``superseded`` on each row (``propagation_superseded``): what
    ``propagation_overdue_steps`` needs, in the same query."""
    return queryset.annotate(superseded=propagation_superseded())


def propagation_overdue_q(step: str, *, now: datetime, times: int = 1) -> Q:
    """Open propagations (with ``propagations_open``) that owe ``step`` for at least ``times``
    its window, and are not superseded: the reminder is due at once the window, the escalation
    at twice."""
    made_by = Q(created_at__lte=now - followup_window(step) * times) & ~Q(propagation_superseded())
    if step == FollowUp.ACK:
        return made_by & Q(acknowledged_at__isnull=True)
    return made_by


def propagation_overdue_steps(
    propagation: Propagation, *, now: datetime, superseded: bool
) -> list[str]:
    """What ``propagation`` is overdue for at ``now`` (the admin's badges), as
    ``propagation_overdue_q`` decides it for a query; ``superseded`` as
    ``propagations_annotated`` reads it."""
    if propagation.state in REPORTED_STATES or superseded:
        return []
    late: list[str] = [
        step
        for step in (FollowUp.ACK, FollowUp.REPORT)
        if propagation.created_at <= now - followup_window(step)
    ]
    if propagation.acknowledged_at is not None and FollowUp.ACK in late:
        late.remove(FollowUp.ACK)
    return late


# --- a partner's endpoints ----------------------------------------------------------------------

HEALTH_WINDOW = timedelta(hours=24)


def _count(queryset: QuerySet[Any], by: str) -> Coalesce:
    """A correlated count of ``queryset`` per ``by`` (one subquery, no join that multiplies)."""
    counted = queryset.order_by().values(by).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def partner_endpoints_health(*, partner_id: int, now: datetime) -> list[Any]:
    """The partner's webhook endpoints, each annotated with how deliveries went: the last
    successful delivery (``last_ok``), failed attempts in the last 24 h (``failed_24h``), and
    its notices that failed or were stopped (``notices_failed``, ``notices_stopped``). One
    query, whatever the number of endpoints."""
    attempts = DeliveryAttempt.objects.filter(notice__endpoint=OuterRef("pk"))
    notices = Notice.objects.filter(endpoint=OuterRef("pk"))
    return list(
        WebhookEndpoint.objects.filter(partner_id=partner_id)
        .annotate(
            last_ok=Subquery(attempts.filter(succeeded=True).order_by("-at").values("at")[:1]),
            failed_24h=_count(
                attempts.filter(succeeded=False, at__gte=now - HEALTH_WINDOW), "notice__endpoint"
            ),
            notices_failed=_count(notices.filter(status=NoticeStatus.FAILED), "endpoint"),
            notices_stopped=_count(notices.filter(status=NoticeStatus.STOPPED), "endpoint"),
        )
        .order_by("-active", "url", "pk")
    )
