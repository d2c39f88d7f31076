"""Retention: what is past its period, and what the active legal holds keep.

Each kind of data has a period in days (``settings.RETENTION_DAYS``; docs/security.md):

- ``signals``: signals that led to nothing (in no incident), by when they were received;
- ``dismissed_cases``: what a dismissed case gathered (its incidents and their signals, its
  evidence items with their content and custody), by when it was closed. The case row, its
  timeline and its notes stay: they are the record of what was decided and why;
- ``notices``: sent notices that are done (delivered, failed, stopped) with their delivery
  attempts, by when they were created;
- ``delivery_attempts``: the attempts of done notices that are themselves kept;
- ``custody_events``: views, downloads and exports of evidence items (never an item's
  acquisition, never a record of an earlier purge).

Nothing of an account or a case under an active legal hold is due: a hold on an account keeps
the account's signals, every case of the account and its notices; a hold on a case keeps that
case. This module only reads: ``retention_plan`` counts what a purge would delete now (the dry
run, the admin's retention page); ``cases.services.retention`` deletes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from notifications.choices import NoticeStatus
from notifications.models import DeliveryAttempt, Notice

from .choices import CaseState, CustodyAction
from .models import Case, CustodyEvent, EvidenceItem, Incident, IncidentSignal, LegalHold, Signal

KINDS = ("dismissed_cases", "signals", "notices", "delivery_attempts", "custody_events")
# What a dismissed case's purge deletes with it, counted apart.
CASE_PARTS = ("incidents", "case_signals", "evidence_items", "case_custody_events")
DONE_NOTICES = (NoticeStatus.DELIVERED, NoticeStatus.FAILED, NoticeStatus.STOPPED)
KEPT_CUSTODY = (CustodyAction.ACQUIRED, CustodyAction.PURGED)
LABELS = {
    "dismissed_cases": "Dismissed cases (their incidents, signals and evidence)",
    "signals": "Signals that led to nothing",
    "notices": "Notices sent (with their delivery attempts)",
    "delivery_attempts": "Delivery attempts",
    "custody_events": "Custody events (views, downloads, exports)",
}


@dataclass(frozen=True)
class HoldPaths:
    """Where a row of a kind names its account and its case, for the hold check."""

    accounts: tuple[str, ...]
    cases: tuple[str, ...]


PATHS = {
    "dismissed_cases": HoldPaths(accounts=("account_id",), cases=("id",)),
    "signals": HoldPaths(accounts=("account_id",), cases=()),
    "notices": HoldPaths(accounts=("account_id", "case__account_id"), cases=("case_id",)),
    "delivery_attempts": HoldPaths(
        accounts=("notice__account_id", "notice__case__account_id"), cases=("notice__case_id",)
    ),
    "custody_events": HoldPaths(accounts=("item__case__account_id",), cases=("item__case_id",)),
}


def periods() -> dict[str, int]:
    return {kind: int(settings.RETENTION_DAYS[kind]) for kind in KINDS}


def cutoffs(now: datetime) -> dict[str, datetime]:
    """Per kind: what is older than this is past its period."""
    return {kind: now - timedelta(days=days) for kind, days in periods().items()}


def active_holds() -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(released_at__isnull=True)


def held(kind: str) -> Q:
    """The rows of ``kind`` that an active hold keeps (a condition on its queryset)."""
    paths = PATHS[kind]
    conditions = [
        Exists(active_holds().filter(account_id=OuterRef(path))) for path in paths.accounts
    ] + [Exists(active_holds().filter(case_id=OuterRef(path))) for path in paths.cases]
    return reduce(or_, (Q(condition) for condition in conditions))


def held_by(kind: str, hold: LegalHold) -> Q:
    """The rows of ``kind`` that this one hold keeps."""
    paths = PATHS[kind]
    if hold.account_id is not None:
        return reduce(or_, (Q(**{path: hold.account_id}) for path in paths.accounts))
    if not paths.cases:
        return Q(pk__in=[])
    return reduce(or_, (Q(**{path: hold.case_id}) for path in paths.cases))


def dismissed_cases_due(cutoff: datetime) -> QuerySet[Case]:
    """Dismissed cases closed before ``cutoff`` that still hold something to purge."""
    return Case.objects.filter(state=CaseState.DISMISSED, closed_at__lt=cutoff).filter(
        Exists(Incident.objects.filter(case=OuterRef("pk")))
        | Exists(EvidenceItem.objects.filter(case=OuterRef("pk")))
    )


def signals_due(cutoff: datetime) -> QuerySet[Signal]:
    return Signal.objects.filter(received_at__lt=cutoff).filter(
        ~Exists(IncidentSignal.objects.filter(signal=OuterRef("pk")))
    )


def notices_due(cutoff: datetime) -> QuerySet[Notice]:
    return Notice.objects.filter(created_at__lt=cutoff, status__in=DONE_NOTICES)


def delivery_attempts_due(cutoff: datetime, notices_cutoff: datetime) -> QuerySet[DeliveryAttempt]:
    """Attempts past their period of done notices that are kept longer (a notice that is due
    takes its attempts with it)."""
    return DeliveryAttempt.objects.filter(
        at__lt=cutoff, notice__status__in=DONE_NOTICES, notice__created_at__gte=notices_cutoff
    )


def custody_events_due(cutoff: datetime, cases_cutoff: datetime) -> QuerySet[CustodyEvent]:
    """Views, downloads and exports past their period, of items that stay (a dismissed case's
    purge takes its items' whole custody with it)."""
    return (
        CustodyEvent.objects.filter(at__lt=cutoff)
        .exclude(action__in=KEPT_CUSTODY)
        .exclude(item__case__in=dismissed_cases_due(cases_cutoff).values("pk"))
    )


def due(kind: str, cuts: dict[str, datetime]) -> QuerySet[Any]:
    """Everything of ``kind`` past its period, held or not."""
    makers: dict[str, Callable[[], QuerySet[Any]]] = {
        "dismissed_cases": lambda: dismissed_cases_due(cuts["dismissed_cases"]),
        "signals": lambda: signals_due(cuts["signals"]),
        "notices": lambda: notices_due(cuts["notices"]),
        "delivery_attempts": lambda: delivery_attempts_due(
            cuts["delivery_attempts"], cuts["notices"]
        ),
        "custody_events": lambda: custody_events_due(
            cuts["custody_events"], cuts["dismissed_cases"]
        ),
    }
    return makers[kind]()


def case_parts(cases: QuerySet[Case]) -> dict[str, int]:
    """What the purge of these dismissed cases deletes with them."""
    incidents = Incident.objects.filter(case__in=cases.values("pk"))
    items = EvidenceItem.objects.filter(case__in=cases.values("pk"))
    return {
        "incidents": incidents.count(),
        "case_signals": Signal.objects.filter(
            Exists(IncidentSignal.objects.filter(signal=OuterRef("pk"), incident__in=incidents))
        ).count(),
        "evidence_items": items.count(),
        "case_custody_events": CustodyEvent.objects.filter(item__in=items).count(),
    }


@dataclass
class HoldKept:
    hold: int
    legal_reference: str
    on: str  # "account 12 (Globex)" or "case 7"
    counts: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "hold": self.hold,
            "legal_reference": self.legal_reference,
            "on": self.on,
            "counts": self.counts,
        }


@dataclass
class RetentionPlan:
    """What a purge at ``at`` would delete, kind by kind, and what each active hold keeps."""

    at: datetime
    periods: dict[str, int]
    cutoffs: dict[str, datetime]
    counts: dict[str, int] = field(default_factory=dict)
    held: list[HoldKept] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def hold_target(hold: LegalHold) -> str:
    if hold.account is not None:
        return f"account {hold.account_id} ({hold.account.name})"
    return f"case {hold.case_id}"


def held_counts(cuts: dict[str, datetime]) -> list[HoldKept]:
    """What each active hold keeps that is past its period (kinds it keeps none of left out)."""
    kept = []
    for hold in active_holds().select_related("account").order_by("id"):
        counts = {kind: due(kind, cuts).filter(held_by(kind, hold)).count() for kind in KINDS}
        kept.append(
            HoldKept(
                hold=hold.pk,
                legal_reference=hold.legal_reference,
                on=hold_target(hold),
                counts={kind: n for kind, n in counts.items() if n},
            )
        )
    return kept


def retention_plan(now: datetime) -> RetentionPlan:
    """The dry run: counts only, nothing is deleted."""
    cuts = cutoffs(now)
    plan = RetentionPlan(at=now, periods=periods(), cutoffs=cuts)
    for kind in KINDS:
        rows = due(kind, cuts).exclude(held(kind))
        plan.counts[kind] = rows.count()
        if kind == "dismissed_cases":
            plan.counts.update(case_parts(rows))
    plan.held = held_counts(cuts)
    return plan
