"""What ``/metrics`` reads from the database (docs/operations.md, "Metrics").

Every figure is one aggregate query over the rows that hold the truth, so that all web and worker
processes report the same numbers and a restart loses nothing: the cost of a scrape is a fixed
number of queries (``METRIC_QUERIES``), whatever the number of cases. Counters (``..._total``)
count rows that are never deleted or whose state only moves forward; histograms are counted in
the database, one conditional count per bucket. No label names an account, a user or a case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from notifications.choices import Channel, FollowUp, NoticeStatus, PropagationState
from notifications.models import DeliveryAttempt, Notice, Propagation
from notifications.selectors import propagation_overdue_q, propagations_open

from .choices import OPEN_STATES, AppealState, Priority
from .models import BREACHES, TRIAGE_EVENTS, Appeal, Case, CaseEvent, Reminder

# Seconds: a minute to four weeks, for triage and for decisions alike.
DURATION_BUCKETS: tuple[float, ...] = (
    60,
    300,
    900,
    3600,
    4 * 3600,
    12 * 3600,
    86400,
    3 * 86400,
    7 * 86400,
    14 * 86400,
    28 * 86400,
)
# Notices still to be sent: the outbox's backlog.
OUTBOX_PENDING_STATES = (NoticeStatus.PENDING, NoticeStatus.SENDING, NoticeStatus.RETRYING)
APPEAL_DECIDED_STATES = (
    AppealState.UPHELD,
    AppealState.OVERTURNED,
    AppealState.MODIFIED,
    AppealState.WITHDRAWN,
)
# How many queries ``metric_samples`` runs (a test holds it to this).
METRIC_QUERIES = 9


@dataclass(frozen=True)
class HistogramCounts:
    """Cumulative counts per upper bound (``buckets``), then the total count and sum."""

    buckets: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    total_seconds: float


@dataclass
class MetricSamples:
    cases_open: dict[tuple[str, str], int] = field(default_factory=dict)
    time_to_triage: HistogramCounts | None = None
    time_to_decision: HistogramCounts | None = None
    deadline_breaches: int = 0
    appeals: dict[str, int] = field(default_factory=dict)
    outbox_pending: int = 0
    webhook_deliveries: dict[str, int] = field(default_factory=dict)
    partner_followups_overdue: int = 0
    feed_lag_seconds: float = 0.0


def _histogram(queryset: QuerySet[Any], buckets: Sequence[float]) -> HistogramCounts:
    """One query: the rows of ``queryset`` (annotated with ``took``) counted per bucket."""
    aggregates = {
        f"le_{i}": Count("pk", filter=Q(took__lte=timedelta(seconds=bound)))
        for i, bound in enumerate(buckets)
    }
    row = queryset.aggregate(n=Count("pk"), total=Sum("took"), **aggregates)
    total = row["total"]
    return HistogramCounts(
        buckets=tuple(buckets),
        cumulative=tuple(int(row[f"le_{i}"]) for i in range(len(buckets))),
        count=int(row["n"]),
        total_seconds=total.total_seconds() if total is not None else 0.0,
    )


def _took(start: str, end: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


def triage_times() -> HistogramCounts:
    """From a case's opening to its first step out of ``flagged`` (suspended, investigated or
    dismissed): the event that records that step, once per case."""
    events = CaseEvent.objects.filter(TRIAGE_EVENTS)
    return _histogram(events.annotate(took=_took("case__created_at", "at")), DURATION_BUCKETS)


def decision_times() -> HistogramCounts:
    """From a case's opening to its closing (remediated, terminated or dismissed)."""
    closed = Case.objects.filter(closed_at__isnull=False)
    return _histogram(closed.annotate(took=_took("created_at", "closed_at")), DURATION_BUCKETS)


def metric_samples(*, now: datetime) -> MetricSamples:
    """Every figure ``/metrics`` reports from the database, in ``METRIC_QUERIES`` queries."""
    samples = MetricSamples()
    rows = (
        Case.objects.filter(state__in=OPEN_STATES)
        .values("state", "priority")
        .annotate(n=Count("pk"))
        .order_by()
    )
    found = {(row["state"], row["priority"]): int(row["n"]) for row in rows}
    # Every open state and priority is reported, 0 included: an alert on a series that
    # disappears at 0 never resolves.
    samples.cases_open = {
        (state, priority): found.get((state, priority), 0)
        for state in OPEN_STATES
        for priority in Priority.values
    }
    samples.time_to_triage = triage_times()
    samples.time_to_decision = decision_times()
    # A deadline is breached when its first escalation is sent: a case's (``escalation``) or an
    # appeal's (``appeal:<id>:escalation``); later escalations of the same deadline repeat it.
    samples.deadline_breaches = Reminder.objects.filter(BREACHES).count()
    decided = (
        Appeal.objects.filter(state__in=APPEAL_DECIDED_STATES)
        .values("state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    found_appeals = {row["state"]: int(row["n"]) for row in decided}
    samples.appeals = {str(state): found_appeals.get(state, 0) for state in APPEAL_DECIDED_STATES}
    samples.outbox_pending = Notice.objects.filter(status__in=OUTBOX_PENDING_STATES).count()
    attempts = DeliveryAttempt.objects.filter(notice__channel=Channel.WEBHOOK).aggregate(
        ok=Count("pk", filter=Q(succeeded=True)), ko=Count("pk", filter=Q(succeeded=False))
    )
    samples.webhook_deliveries = {"succeeded": int(attempts["ok"]), "failed": int(attempts["ko"])}
    samples.partner_followups_overdue = (
        propagations_open()
        .filter(
            propagation_overdue_q(FollowUp.ACK, now=now)
            | propagation_overdue_q(FollowUp.REPORT, now=now)
        )
        .count()
    )
    # The partners' feed lag: how long the oldest change still to be delivered to a partner has
    # waited (0 with none waiting).
    oldest = Propagation.objects.filter(state=PropagationState.PENDING).aggregate(
        at=Coalesce(Min("change__at"), Min("created_at"))
    )["at"]
    samples.feed_lag_seconds = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    return samples
