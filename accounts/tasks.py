"""Periodic upkeep of the accounts app."""

from __future__ import annotations

from celery import shared_task

from .idempotency import idempotency_keys_purge


@shared_task(name="accounts.idempotency_keys_purge")
def idempotency_keys_purge_task() -> int:
    """Delete idempotency keys older than ``IDEMPOTENCY_KEY_TTL``; safe to run any time."""
    return idempotency_keys_purge()
