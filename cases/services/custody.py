"""Writing evidence items and their custody events: the one place either table is written.

The caller holds the case's row lock (a new item) or takes the item's (``custody_append``), so
that each item's custody events are numbered without a gap.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.actors import Actor

from ..choices import CustodyAction
from ..custody import ITEM_FIELDS, custody_hash
from ..evidence_store import Stored
from ..models import Case, CaseEvent, CustodyEvent, EvidenceItem

REASON_MAX = CustodyEvent._meta.get_field("reason").max_length or 500


def _actor_ids(actor: Actor) -> tuple[int | None, int | None]:
    user = actor.user if actor.user is not None and actor.user.pk else None
    client = actor.client.pk if actor.client is not None else None
    return (user.pk if user is not None else None), client


def item_record(item: EvidenceItem) -> dict[str, Any]:
    """The item's fields that its first custody event's hash covers."""
    return {name: getattr(item, name) for name in ITEM_FIELDS}


def evidence_item_create(
    *,
    case: Case,
    kind: str,
    name: str,
    description: str,
    media_type: str,
    stored: Stored,
    actor: Actor,
    at: datetime,
    event: CaseEvent | None = None,
) -> EvidenceItem:
    """The item's row and its ``acquired`` custody event; the content is already stored."""
    user_id, client_id = _actor_ids(actor)
    item = EvidenceItem.objects.create(
        case=case,
        kind=kind,
        name=name,
        description=description,
        media_type=media_type,
        size=stored.size,
        sha256=stored.sha256,
        storage_name=stored.name,
        acquired_at=at,
        actor_kind=actor.kind,
        acquired_by=actor.label,
        actor_user_id=user_id,
        actor_client_id=client_id,
        event=event,
    )
    _custody_write(
        item=item,
        seq=1,
        prev_hash="",
        action=CustodyAction.ACQUIRED,
        actor=actor,
        at=at,
        reason=description[:REASON_MAX],
    )
    return item


def custody_append(
    *, item: EvidenceItem, action: str, actor: Actor, at: datetime, reason: str = ""
) -> CustodyEvent:
    """One more custody event of ``item``, numbered after its last; the caller is atomic."""
    EvidenceItem.objects.select_for_update().filter(pk=item.pk).first()
    last = CustodyEvent.objects.filter(item=item).order_by("-seq").values("seq", "hash").first()
    seq = (last["seq"] + 1) if last else 1
    return _custody_write(
        item=item,
        seq=seq,
        prev_hash=last["hash"] if last else "",
        action=action,
        actor=actor,
        at=at,
        reason=reason,
    )


def _custody_write(
    *,
    item: EvidenceItem,
    seq: int,
    prev_hash: str,
    action: str,
    actor: Actor,
    at: datetime,
    reason: str,
) -> CustodyEvent:
    user_id, client_id = _actor_ids(actor)
    content = {
        "item_id": item.pk,
        "seq": seq,
        "at": at,
        "action": action,
        "actor_kind": actor.kind,
        "actor_label": actor.label,
        "actor_user_id": user_id,
        "actor_client_id": client_id,
        "reason": reason,
    }
    return CustodyEvent.objects.create(
        item=item,
        seq=seq,
        at=at,
        action=action,
        actor_kind=actor.kind,
        actor_label=actor.label,
        actor_user_id=user_id,
        actor_client_id=client_id,
        reason=reason,
        prev_hash=prev_hash,
        hash=custody_hash(prev_hash, content, item_record(item) if seq == 1 else None),
    )
