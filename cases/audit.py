"""The hash chain over a case's timeline: each event hashes its content and its predecessor."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

HASH_FIELDS = (
    "case_id",
    "seq",
    "at",
    "actor_kind",
    "actor_label",
    "action",
    "from_state",
    "to_state",
    "reason",
    "policy_versions",
    "data",
)
# Fields added to events later: hashed only when set, so that the events written before a field
# existed keep their hashes, while setting, changing or clearing it on a later event shows.
LATER_HASH_FIELDS = ("acted_by",)
EVENT_HASH_FIELDS = HASH_FIELDS + LATER_HASH_FIELDS


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def event_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the event's content in canonical JSON."""
    body = {name: _canonical(content.get(name)) for name in HASH_FIELDS}
    body.update({name: content[name] for name in LATER_HASH_FIELDS if content.get(name)})
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{encoded}".encode()).hexdigest()
