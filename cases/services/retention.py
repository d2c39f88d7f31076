"""The retention purge: delete what is past its period (``cases.retention``), skip what an active
legal hold keeps, and record what went, counts only.

The purge works in short transactions, a dismissed case or a batch of rows at a time. Each takes
the holds' lock first (``holds_lock``, which placing a hold takes too) and reads the holds again
under it, so a hold placed while a purge runs keeps everything the purge has not yet deleted.
Inside each transaction the database's DELETE guard of the purgeable tables gives way
(``cases.guards.purge_allowed``); UPDATE stays refused everywhere.

What is recorded: every case whose rows went gets a ``purged`` event on its timeline (kinds and
counts, the evidence items by id); an evidence item whose earlier custody events went gets a
``purged`` custody event that names their range and the last one's hash, so its chain still
verifies; the run itself is a ``PurgeRecord`` with the totals and what each hold kept. Stored
evidence content is deleted once the transaction that deleted its item has committed.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from core.actors import Actor
from notifications.models import DeliveryAttempt, Notice

from ..choices import CustodyAction, EventAction
from ..custody import purged_reason
from ..evidence_store import content_delete
from ..guards import purge_allowed
from ..models import (
    Case,
    CustodyEvent,
    EvidenceItem,
    Incident,
    IncidentSignal,
    PurgeRecord,
    Signal,
)
from ..retention import (
    HoldKept,
    cutoffs,
    due,
    held,
    held_counts,
    periods,
)
from .custody import custody_append
from .holds import holds_lock
from .transitions import _append_event, _lock_case

logger = logging.getLogger(__name__)
ACTOR_LABEL = "retention purge"
# Per case: what one transaction deleted of it, by kind.
PerCase = dict[int, Counter[str]]


@dataclass
class PurgeResult:
    at: datetime
    counts: Counter[str] = field(default_factory=Counter)
    cases: set[int] = field(default_factory=set)
    held: list[HoldKept] = field(default_factory=list)
    record: PurgeRecord | None = None


def _raw_delete(queryset: QuerySet[Any]) -> int:
    """DELETE by primary key, without the ORM's per-row collection (append-only models refuse
    ``delete()``; the guard in the database is what stands, and ``purge_allowed`` is open)."""
    return int(queryset._raw_delete(queryset.db))


def _record(per_case: PerCase, now: datetime, actor: Actor, items: dict[int, list[int]]) -> None:
    """A ``purged`` event on the timeline of each case, in id order (each case locked)."""
    for case_id in sorted(per_case):
        counts = {kind: n for kind, n in sorted(per_case[case_id].items()) if n}
        if not counts:
            continue
        data: dict[str, Any] = {"purged": counts, "periods": periods()}
        if items.get(case_id):
            data["evidence_items"] = sorted(items[case_id])
        _append_event(
            case=_lock_case(case_id),
            actor=actor,
            action=EventAction.PURGED,
            at=now,
            reason="Past retention: "
            + ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items())
            + ".",
            data=data,
        )


def _contents_delete(names: list[str]) -> None:
    """After commit: the rows are gone, so a content the storage refuses to delete (an S3
    bucket under Object Lock, say) is logged and left, referenced by nothing."""
    for name in names:
        try:
            content_delete(name)
        except Exception:  # the purge is recorded; the file is only left over
            logger.warning("evidence content %s not deleted by the purge", name, exc_info=True)


def _purge_case(case: Case, now: datetime, actor: Actor) -> Counter[str]:
    """A dismissed case's incidents, the signals only they held, its evidence items with their
    custody (content deleted after commit). Its row, timeline and notes stay."""
    parts: Counter[str] = Counter()
    items = list(EvidenceItem.objects.filter(case=case).values_list("pk", "storage_name"))
    item_ids = [pk for pk, _ in items]
    if item_ids:
        parts["case_custody_events"] = _raw_delete(
            CustodyEvent.objects.filter(item_id__in=item_ids)
        )
        parts["evidence_items"] = _raw_delete(EvidenceItem.objects.filter(pk__in=item_ids))
        names = [name for _, name in items]
        transaction.on_commit(lambda: _contents_delete(names))
    signal_ids = list(
        IncidentSignal.objects.filter(incident__case=case).values_list("signal_id", flat=True)
    )
    incidents = Incident.objects.filter(case=case)
    parts["incidents"] = incidents.count()
    incidents.delete()
    if signal_ids:
        orphans = Signal.objects.filter(pk__in=set(signal_ids)).filter(
            ~Exists(IncidentSignal.objects.filter(signal=OuterRef("pk")))
        )
        orphan_ids = list(orphans.values_list("pk", flat=True))
        parts["case_signals"] = _raw_delete(Signal.objects.filter(pk__in=orphan_ids))
    _record({case.pk: parts}, now, actor, {case.pk: item_ids})
    return parts


def _signals(ids: list[Any], now: datetime, actor: Actor) -> tuple[int, PerCase]:
    # Signals in no incident belong to no case: the purge record counts them.
    return _raw_delete(Signal.objects.filter(pk__in=ids)), {}


def _notices(ids: list[Any], now: datetime, actor: Actor) -> tuple[int, PerCase]:
    per_case: PerCase = defaultdict(Counter)
    for case_id, n in Counter(
        Notice.objects.filter(pk__in=ids, case__isnull=False).values_list("case_id", flat=True)
    ).items():
        per_case[case_id]["notices"] += n
    attempts = DeliveryAttempt.objects.filter(notice_id__in=ids)
    for case_id, n in Counter(attempts.values_list("notice__case_id", flat=True)).items():
        if case_id is not None:
            per_case[case_id]["delivery_attempts"] += n
    _raw_delete(attempts)
    return _raw_delete(Notice.objects.filter(pk__in=ids)), per_case


def _attempts(ids: list[Any], now: datetime, actor: Actor) -> tuple[int, PerCase]:
    per_case: PerCase = defaultdict(Counter)
    rows = DeliveryAttempt.objects.filter(pk__in=ids, notice__case__isnull=False)
    for case_id, n in Counter(rows.values_list("notice__case_id", flat=True)).items():
        per_case[case_id]["delivery_attempts"] += n
    return _raw_delete(DeliveryAttempt.objects.filter(pk__in=ids)), per_case


def _runs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive numbers as (first, last) ranges."""
    ordered = sorted(seqs)
    runs: list[tuple[int, int]] = []
    for _, group in groupby(enumerate(ordered), key=lambda pair: pair[1] - pair[0]):
        members = [seq for _, seq in group]
        runs.append((members[0], members[-1]))
    return runs


def _custody(ids: list[Any], now: datetime, actor: Actor) -> tuple[int, PerCase]:
    """Earlier custody events of items that stay: each run of deleted events is named, with its
    last hash, by a ``purged`` custody event appended before they go."""
    per_case: PerCase = defaultdict(Counter)
    rows = CustodyEvent.objects.filter(pk__in=ids).values_list(
        "item_id", "item__case_id", "seq", "hash"
    )
    by_item: dict[int, dict[int, str]] = defaultdict(dict)
    for item_id, case_id, seq, digest in rows:
        by_item[item_id][seq] = digest
        per_case[case_id]["custody_events"] += 1
    for item in EvidenceItem.objects.filter(pk__in=list(by_item)).order_by("pk"):
        hashes = by_item[item.pk]
        for first, last in _runs(hashes):
            custody_append(
                item=item,
                action=CustodyAction.PURGED,
                actor=actor,
                at=now,
                reason=purged_reason(first, last, hashes[last]),
            )
    return _raw_delete(CustodyEvent.objects.filter(pk__in=ids)), per_case


DELETERS: dict[str, Callable[[list[Any], datetime, Actor], tuple[int, PerCase]]] = {
    "signals": _signals,
    "notices": _notices,
    "delivery_attempts": _attempts,
    "custody_events": _custody,
}


def purge_expired(*, now: datetime | None = None, actor_label: str = ACTOR_LABEL) -> PurgeResult:
    """Delete everything past its period that no active hold keeps, and record it."""
    now = now or timezone.now()
    actor = Actor.system(actor_label)
    cuts = cutoffs(now)
    result = PurgeResult(at=now)
    batch = int(settings.RETENTION_BATCH)

    case_ids = list(
        due("dismissed_cases", cuts)
        .exclude(held("dismissed_cases"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for case_id in case_ids:
        with transaction.atomic(), purge_allowed(connection):
            holds_lock()
            rows = due("dismissed_cases", cuts).exclude(held("dismissed_cases"))
            case = rows.filter(pk=case_id).first()
            if case is None:  # held meanwhile, or purged by another run
                continue
            result.counts += _purge_case(case, now, actor)
            result.counts["dismissed_cases"] += 1
            result.cases.add(case_id)

    for kind, deleter in DELETERS.items():
        after: Any = None
        while True:
            pending = due(kind, cuts).exclude(held(kind)).order_by("pk")
            if after is not None:
                pending = pending.filter(pk__gt=after)
            ids = list(pending.values_list("pk", flat=True)[:batch])
            if not ids:
                break
            after = ids[-1]
            with transaction.atomic(), purge_allowed(connection):
                holds_lock()
                # Read again under the lock: a hold placed since keeps its rows.
                locked = list(
                    due(kind, cuts)
                    .exclude(held(kind))
                    .filter(pk__in=ids)
                    .values_list("pk", flat=True)
                )
                if not locked:
                    continue
                deleted, per_case = deleter(locked, now, actor)
                _record(per_case, now, actor, {})
            result.counts[kind] += deleted
            result.cases.update(per_case)

    result.held = held_counts(cuts)
    result.record = PurgeRecord.objects.create(
        at=now,
        actor_label=actor_label,
        periods=periods(),
        cutoffs={kind: cut.isoformat() for kind, cut in cuts.items()},
        counts=dict(sorted(result.counts.items())),
        held=[kept.as_dict() for kept in result.held],
        cases=len(result.cases),
    )
    return result
