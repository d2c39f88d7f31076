"""Canonical JSON and the hash chain over an evidence item's custody events.

Each item's custody events are numbered from 1 and chained as a case's timeline is
(``cases.audit``): each hash covers the event's content and its predecessor's hash. The first
event (``acquired``) also covers the item's own record (``ITEM_FIELDS``), so that changing a
hash, a size or the storage name of an item, even with the database's guards lifted, breaks its
chain. Pure functions: ``cases.services.evidence`` writes, ``cases.audit_verify`` and
``cases.bundle`` check.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

ITEM_FIELDS = (
    "id",
    "case_id",
    "kind",
    "name",
    "description",
    "media_type",
    "size",
    "sha256",
    "storage_name",
    "acquired_at",
    "actor_kind",
    "acquired_by",
    "actor_user_id",
    "actor_client_id",
    "event_id",
)
EVENT_FIELDS = (
    "item_id",
    "seq",
    "at",
    "action",
    "actor_kind",
    "actor_label",
    "actor_user_id",
    "actor_client_id",
    "reason",
)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def canonical_json(value: Any) -> bytes:
    """One byte sequence per JSON value: keys sorted, no spaces, UTF-8 (RFC 8785 in spirit;
    the values written here are strings, integers, booleans, null, lists and objects)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def custody_hash(prev_hash: str, event: dict[str, Any], item: dict[str, Any] | None) -> str:
    """SHA-256 over the previous hash and the event (with the item's record for the first)."""
    body: dict[str, Any] = {name: _canonical_value(event.get(name)) for name in EVENT_FIELDS}
    if item is not None:
        body["item"] = {name: _canonical_value(item.get(name)) for name in ITEM_FIELDS}
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical_json(body)).hexdigest()


PURGED_REASON = "Past retention: custody events {first}-{last} deleted; the last hashed {hash}."
_PURGED = re.compile(
    r"^Past retention: custody events (\d+)-(\d+) deleted; the last hashed ([0-9a-f]{64})\.$"
)


def purged_reason(first: int, last: int, last_hash: str) -> str:
    """What a ``purged`` custody event says: the range it deleted and the last one's hash."""
    return PURGED_REASON.format(first=first, last=last, hash=last_hash)


def purged_ranges(events: list[dict[str, Any]]) -> dict[int, tuple[int, str]]:
    """The ranges the chain's ``purged`` events account for: first seq -> (last seq, the last
    one's hash). The events' own hashes cover what they say."""
    ranges: dict[int, tuple[int, str]] = {}
    for event in events:
        if event.get("action") != "purged":
            continue
        match = _PURGED.match(event.get("reason") or "")
        if match:
            ranges[int(match[1])] = (int(match[2]), match[3])
    return ranges


def custody_chain_problems(
    item: dict[str, Any], events: list[dict[str, Any]]
) -> list[tuple[dict[str, Any] | None, str]]:
    """What does not hold in one item's chain, given its record and its events oldest first:
    a list of (event or None, problem). Empty when the chain verifies."""
    problems: list[tuple[dict[str, Any] | None, str]] = []
    if not events:
        return [(None, "has no custody events (its acquisition was deleted)")]
    purged = purged_ranges(events)
    previous = ""
    expected_seq = 0
    for event in events:
        expected_seq += 1
        # A gap that a ``purged`` event of the chain accounts for: the next event follows the
        # last purged one's hash, which that event recorded.
        while event.get("seq") != expected_seq and expected_seq in purged:
            last, previous = purged[expected_seq]
            expected_seq = last + 1
        if event.get("seq") != expected_seq:
            problems.append((event, f"seq {event.get('seq')} where {expected_seq} was expected"))
        if event.get("prev_hash") != previous:
            problems.append((event, "prev_hash is not the previous event's hash"))
        recomputed = custody_hash(
            event.get("prev_hash") or "", event, item if expected_seq == 1 else None
        )
        if recomputed != event.get("hash"):
            what = "its content or the item's record" if expected_seq == 1 else "its content"
            problems.append((event, f"hash does not match {what} (changed after it was written)"))
        previous = event.get("hash") or ""
    return problems
