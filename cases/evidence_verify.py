"""Evidence items and their custody against themselves and the timeline (``verify_audit``).

- **Custody chains**: each item's custody events are numbered from 1, each ``prev_hash`` is the
  previous event's hash and each hash is recomputed (``cases.custody``); the first covers the
  item's record, so a changed item (its hash, size or storage name) breaks its chain.
- **Uploads against the timeline**: each uploaded item is the one its ``evidence_file`` event
  records (name, media type, size, SHA-256); an event whose item is gone, and an uploaded item
  no event records, are reported, unless a ``purged`` event of the case records its deletion.
- **Snapshots against their decision**: each snapshot names a suspend or terminate event of its
  own case.
- **Content** (``verify_audit --content``): each item's stored content still has its SHA-256
  and size; this reads every file of the storage.

Read-only; called per case by ``cases.audit_verify`` with the rows it has read, to which it
answers findings: (table, subject, problem), each a ``Mismatch`` of that case there.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter
from typing import Any

from .choices import EventAction, EvidenceKind
from .custody import ITEM_FIELDS, custody_chain_problems
from .evidence_store import content_digest
from .models import CustodyEvent, EvidenceItem

# (table, subject, problem): what ``cases.audit_verify`` makes a ``Mismatch`` of.
Finding = tuple[str, str, str]

ITEMS = EvidenceItem._meta.db_table
CUSTODY = CustodyEvent._meta.db_table
ITEM_ROW_FIELDS = tuple(dict.fromkeys(ITEM_FIELDS))
CUSTODY_ROW_FIELDS = (
    "id",
    "item__case_id",
    "item_id",
    "seq",
    "at",
    "action",
    "actor_kind",
    "actor_label",
    "actor_user_id",
    "actor_client_id",
    "reason",
    "prev_hash",
    "hash",
)
RECORDED = ("name", "media_type", "size", "sha256")
SNAPSHOT_ACTIONS = (EventAction.SUSPEND, EventAction.TERMINATE)


def evidence_check(
    case_id: int,
    events: list[dict[str, Any]],
    items: list[dict[str, Any]],
    custody: list[dict[str, Any]],
    *,
    content: bool = False,
) -> Iterator[Finding]:
    """Every check of the module doc over one case's events, items and custody events."""
    by_item = {
        item_id: list(group) for item_id, group in groupby(custody, key=itemgetter("item_id"))
    }
    known = {item["id"] for item in items}
    for item_id in sorted(set(by_item) - known):
        yield (
            CUSTODY,
            f"custody of evidence {item_id} of case {case_id}",
            "names an evidence item that does not exist (deleted)",
        )
    for item in items:
        subject = f"evidence {item['id']} of case {case_id}"
        for event, problem in custody_chain_problems(item, by_item.get(item["id"], [])):
            where = f" event {event.get('id')} (seq {event.get('seq')})" if event else ""
            yield (CUSTODY, f"custody of {subject}{where}", problem)
        if content:
            yield from _content_check(item, subject, case_id)
    yield from _uploads_check(case_id, events, items)
    by_event = {event["id"]: event for event in events}
    for item in items:
        if item["kind"] != EvidenceKind.SNAPSHOT:
            continue
        event = by_event.get(item["event_id"])
        if event is None or event.get("action") not in SNAPSHOT_ACTIONS:
            yield (
                ITEMS,
                f"evidence {item['id']} of case {case_id}",
                f"a snapshot whose event {item['event_id']} is no suspend or terminate of its case",
            )


def _uploads_check(
    case_id: int, events: list[dict[str, Any]], items: list[dict[str, Any]]
) -> Iterator[Finding]:
    uploads = {item["id"]: item for item in items if item["kind"] == EvidenceKind.UPLOAD}
    purged = _purged_items(events)
    for event in events:
        if event.get("action") != EventAction.EVIDENCE_FILE:
            continue
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        assert isinstance(data, dict)  # noqa: S101 -- narrowed just above
        source = f"event {event.get('id')} (seq {event.get('seq')})"
        item = uploads.pop(data.get("item"), None)
        if item is None and data.get("item") in purged:
            continue
        if item is None:
            yield (
                ITEMS,
                f"evidence {data.get('item')} of case {case_id}",
                f"recorded by {source} but missing (deleted, or moved to another case)",
            )
            continue
        changed = sorted(k for k in RECORDED if item.get(k) != data.get(k))
        if changed:
            yield (
                ITEMS,
                f"evidence {item['id']} of case {case_id}",
                f"{', '.join(changed)} differ(s) from what {source} recorded",
            )
    for item_id in sorted(uploads):
        yield (
            ITEMS,
            f"evidence {item_id} of case {case_id}",
            "an upload no event of its case records (inserted outside the service)",
        )


def _purged_items(events: list[dict[str, Any]]) -> set[Any]:
    """The evidence items that the case's ``purged`` events record as deleted past retention."""
    items: set[Any] = set()
    for event in events:
        data = event.get("data")
        if event.get("action") == EventAction.PURGED and isinstance(data, dict):
            listed = data.get("evidence_items")
            items.update(listed if isinstance(listed, list) else [])
    return items


def _content_check(item: dict[str, Any], subject: str, case_id: int) -> Iterator[Finding]:
    try:
        kept = content_digest(item["storage_name"])
    except OSError:
        yield (ITEMS, subject, f"its content {item['storage_name']!r} is gone")
        return
    if kept != (item["sha256"], item["size"]):
        yield (
            ITEMS,
            subject,
            f"its stored content {item['storage_name']!r} no longer has its SHA-256 and size "
            "(changed in the storage)",
        )
