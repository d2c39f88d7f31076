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


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def event_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the event's content in canonical JSON."""
    body = {name: _canonical(content.get(name)) for name in HASH_FIELDS}
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{encoded}".encode()).hexdigest()
