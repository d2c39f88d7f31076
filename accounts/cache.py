"""The shared enforcement cache: account statuses and API keys, in Redis when configured.

Used only when ``CACHE_URL`` is set (``settings.ENFORCEMENT_CACHE_ENABLED``): a per-process
cache could not be cleared by another process, so without a shared one every read goes to the
database. Entries are invalidated after the commit of every change (``cases.services`` calls
:func:`enforcement_invalidate_on_commit`; key revocation calls
:func:`api_key_invalidate_on_commit`).

Invalidation writes a short-lived *tombstone* instead of deleting, and readers fill the cache
with ``add`` (set-if-absent) only when they found nothing: a reader that read the old row
just before a commit cannot put it back over the tombstone. ``ENFORCEMENT_CACHE_TTL`` bounds how
long any entry lives regardless.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

TOMBSTONE = "__invalidated__"
DEFAULT_TTL = 300
TOMBSTONE_TTL = 10


def cache_enabled() -> bool:
    return bool(getattr(settings, "ENFORCEMENT_CACHE_ENABLED", False))


def _ttl() -> int:
    return int(getattr(settings, "ENFORCEMENT_CACHE_TTL", DEFAULT_TTL))


def enforcement_key(external_id: str) -> str:
    digest = hashlib.blake2b(external_id.encode(), digest_size=16).hexdigest()
    return f"enf:v1:{digest}"


def api_key_key(prefix: str) -> str:
    return f"apikey:v1:{prefix}"


def cache_get(key: str) -> tuple[bool, Any]:
    """``(usable, value)``: ``usable`` is False for a miss or a tombstone; never raises."""
    try:
        value = cache.get(key)
    except Exception:  # a cache outage must not fail a lookup: fall back to the database
        logger.warning("enforcement cache unreachable on get", exc_info=True)
        return False, None
    if value is None or value == TOMBSTONE:
        return False, value
    return True, value


def cache_fill(key: str, previous: Any, value: Any, *, fresh_for: float | None = None) -> None:
    """Store ``value`` unless the key was invalidated meanwhile (``previous`` a tombstone), for
    at most ``ENFORCEMENT_CACHE_TTL`` and never past ``fresh_for`` seconds (the next ``ends_at``
    of a restriction in it: the copy must not outlive it)."""
    if previous == TOMBSTONE:
        return
    timeout = _ttl()
    if fresh_for is not None:
        if fresh_for < 1:
            return
        timeout = min(timeout, int(fresh_for))
    try:
        cache.add(key, value, timeout=timeout)
    except Exception:
        logger.warning("enforcement cache unreachable on fill", exc_info=True)


def _invalidate(keys: list[str]) -> None:
    if not keys:
        return
    try:
        cache.set_many(dict.fromkeys(keys, TOMBSTONE), timeout=TOMBSTONE_TTL)
    except Exception:
        # The TTL bounds staleness; log loudly since a gateway may read an old status.
        logger.error("enforcement cache invalidation failed for %s", keys, exc_info=True)


def enforcement_invalidate(external_ids: Iterable[str]) -> None:
    if cache_enabled():
        _invalidate([enforcement_key(e) for e in external_ids])


def _invalidate_now_and_on_commit(keys: list[str]) -> None:
    """Tombstone now (no reader can refill the entry while the change is in flight) and again
    once the transaction commits (no reader that read the old row can have refilled it)."""
    _invalidate(keys)
    transaction.on_commit(lambda: _invalidate(keys))


def enforcement_invalidate_on_commit(external_id: str) -> None:
    """Drop the cached status of an account, in flight and once the transaction commits."""
    if cache_enabled():
        _invalidate_now_and_on_commit([enforcement_key(external_id)])


def api_key_invalidate_on_commit(prefix: str) -> None:
    if cache_enabled():
        _invalidate_now_and_on_commit([api_key_key(prefix)])
