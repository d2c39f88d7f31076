"""The hash chain over a case's timeline: each event hashes its content and its predecessor.

The hashed content has versions. Version 1 covers what the event says and the actor's kind and
label, and ``acted_by`` when it is set (events written before that field existed have it blank
and keep their hashes). Version 2 also covers the acting user's and API client's ids, ``acted_by``
always, and the version itself, so that re-pointing ``actor_user`` or ``actor_client`` breaks the
chain. Events keep the version they were written with (a hash is never recomputed: that would
erase the evidence it is there to keep), and new events are always written with
``HASH_VERSION``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

HASH_FIELDS_V1 = (
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
# Version 1: fields added to events later are hashed only when set, so that the events written
# before a field existed keep their hashes, while setting, changing or clearing it later shows.
LATER_HASH_FIELDS = ("acted_by",)
HASH_FIELDS = HASH_FIELDS_V1
HASH_FIELDS_V2 = (
    *HASH_FIELDS_V1,
    "acted_by",
    "actor_user_id",
    "actor_client_id",
    "hash_version",
)

HASHED_FIELDS = {1: HASH_FIELDS_V1, 2: HASH_FIELDS_V2}
HASH_VERSION = 2
# Every field that some version hashes: what to read of an event to verify it.
EVENT_HASH_FIELDS = HASH_FIELDS_V2


class UnknownHashVersion(ValueError):
    pass


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def hash_version_of(content: dict[str, Any]) -> int:
    """The version an event was hashed with; content without one predates versions (1)."""
    version = content.get("hash_version")
    return 1 if version is None else version


def event_hash(prev_hash: str, content: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the event's content in canonical JSON.

    The fields hashed are those of the content's ``hash_version`` (none: version 1); an unknown
    version raises ``UnknownHashVersion``.
    """
    version = hash_version_of(content)
    fields = HASHED_FIELDS.get(version) if isinstance(version, int) else None
    if fields is None:
        raise UnknownHashVersion(f"unknown hash version {version!r}")
    body = {name: _canonical(content.get(name)) for name in fields}
    if version == 1:
        body.update({name: content[name] for name in LATER_HASH_FIELDS if content.get(name)})
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{encoded}".encode()).hexdigest()
