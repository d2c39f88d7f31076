"""Exporting a case as a bundle (``cases.bundle``): each evidence item's export is a custody
event, recorded before the bundle is written so that its custody log shows the export itself."""

from __future__ import annotations

import zipfile
from typing import IO, Any

from django.db import transaction
from django.utils import timezone

from config.times import iso, iso_or_none
from core.actors import Actor

from ..bundle import (
    CASE,
    CUSTODY_HASHING,
    MANIFEST,
    evidence_path,
    manifest_bytes,
    manifest_entry,
)
from ..choices import CustodyAction
from ..custody import canonical_json
from ..errors import EvidenceCorrupted
from ..evidence_store import content_read
from ..export import case_export
from ..models import CustodyEvent, EvidenceItem
from .custody import custody_append


def _custody_row(event: CustodyEvent) -> dict[str, Any]:
    return {
        "item_id": event.item_id,
        "seq": event.seq,
        "at": iso(event.at),
        "action": event.action,
        "actor_kind": event.actor_kind,
        "actor_label": event.actor_label,
        "actor_user_id": event.actor_user_id,
        "actor_client_id": event.actor_client_id,
        "reason": event.reason,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def _item_row(item: EvidenceItem, path: str) -> dict[str, Any]:
    return {
        "id": item.pk,
        "case_id": item.case_id,
        "kind": item.kind,
        "name": item.name,
        "description": item.description,
        "media_type": item.media_type,
        "size": item.size,
        "sha256": item.sha256,
        "storage_name": item.storage_name,
        "acquired_at": iso_or_none(item.acquired_at),
        "actor_kind": item.actor_kind,
        "acquired_by": item.acquired_by,
        "actor_user_id": item.actor_user_id,
        "actor_client_id": item.actor_client_id,
        "event_id": item.event_id,
        "path": path,
        "custody": [_custody_row(e) for e in item.custody.order_by("seq")],
    }


def case_bundle_export(*, case_id: int, actor: Actor, out: IO[bytes], reason: str = "") -> int:
    """Write the bundle of case ``case_id`` to ``out``; the number of evidence files in it.
    Raises ``Case.DoesNotExist`` for an unknown case, ``EvidenceCorrupted`` if a stored file no
    longer has its hash (and then records nothing)."""
    document = case_export(case_id=case_id)
    items = list(EvidenceItem.objects.filter(case_id=case_id).order_by("acquired_at", "id"))
    contents = {item.pk: content_read(item.storage_name) for item in items}
    for item in items:
        if manifest_entry(contents[item.pk]) != {"sha256": item.sha256, "size": item.size}:
            raise EvidenceCorrupted(
                detail=f"Evidence {item.pk}'s stored content does not match its SHA-256."
            )
    with transaction.atomic():
        now = timezone.now()
        for item in items:
            custody_append(
                item=item, action=CustodyAction.EXPORTED, actor=actor, at=now, reason=reason
            )
    files: dict[str, bytes] = {}
    rows = []
    for item in items:
        path = evidence_path(item.pk, item.name)
        files[path] = contents[item.pk]
        rows.append(_item_row(item, path))
    document["evidence_items"] = rows
    document["custody_hashing"] = CUSTODY_HASHING
    files = {CASE: canonical_json(document), **files}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, content in files.items():
            archive.writestr(path, content)
        archive.writestr(MANIFEST, manifest_bytes(files))
    return len(items)
