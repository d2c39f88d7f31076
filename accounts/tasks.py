"""Periodic upkeep of the accounts app."""

from __future__ import annotations

from celery import shared_task

from . import idempotency


@shared_task(ignore_result=True)
def idempotency_keys_purge() -> int:
    """Delete idempotency keys older than ``IDEMPOTENCY_KEY_TTL``; safe to run any time."""
    return idempotency.idempotency_keys_purge()
