"""The periodic tasks that Celery beat runs, defined in code.

``manage.py setup_periodic_tasks`` writes them to django-celery-beat's tables, where leads can
see them and change their timing in the admin; running it again keeps their edits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Periodic:
    name: str
    task: str
    every_seconds: int | None = None
    crontab: str | None = None  # "minute hour day_of_month month_of_year day_of_week"
    description: str = ""


PERIODIC_TASKS: tuple[Periodic, ...] = (
    Periodic(
        name="Purge expired idempotency keys",
        task="accounts.idempotency_keys_purge",
        every_seconds=3600,
        description="Idempotency-Key records are kept 24 hours (IDEMPOTENCY_KEY_TTL).",
    ),
)
