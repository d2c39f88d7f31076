"""Freezing the snapshot of a decision (``cases.snapshots``) as an evidence item."""

from __future__ import annotations

from datetime import datetime

from core.actors import Actor

from ..choices import EvidenceKind
from ..evidence_store import content_store
from ..models import Case, CaseEvent, EvidenceItem
from ..snapshots import MEDIA_TYPE, snapshot_bytes, snapshot_document
from .custody import evidence_item_create

SNAPSHOT_ACTOR = "snapshot"


def evidence_snapshot_take(*, case: Case, event: CaseEvent, at: datetime) -> EvidenceItem:
    """Freeze what the decision recorded by ``event`` rested on; the caller holds the case's
    lock, in the transaction that made the decision, so the snapshot is the decision's own."""
    content = snapshot_bytes(snapshot_document(case=case, event=event, at=at))
    stored = content_store(case_id=case.pk, content=content)
    return evidence_item_create(
        case=case,
        kind=EvidenceKind.SNAPSHOT,
        name=f"case-{case.pk}-{event.action}-{event.seq}.json",
        description=f"What the {event.action} of event {event.seq} rested on, frozen at it.",
        media_type=MEDIA_TYPE,
        stored=stored,
        actor=Actor.system(SNAPSHOT_ACTOR),
        at=at,
        event=event,
    )
