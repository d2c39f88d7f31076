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
        name="notices: sweep the outbox",
        task="notifications.tasks.notices_sweep",
        every_seconds=30,
        description="Queue notices that were never sent, are due for a retry, or were "
        "abandoned by a worker that died.",
    ),
    Periodic(
        name="restrictions: record those that ended",
        task="cases.tasks.restrictions_expire",
        every_seconds=30,
        description="A restriction past its end is never reported in force; this records its "
        "end: a restriction_expired decision, a change in the feed, the account's notice and "
        "the partners' webhooks, once.",
    ),
    Periodic(
        name="deadlines: reminders and escalations",
        task="cases.tasks.deadlines_sweep",
        every_seconds=60,
        description="Remind assignees before review deadlines; escalate overdue cases to leads.",
    ),
    Periodic(
        name="approvals: expiry and reminders",
        task="cases.tasks.approvals_sweep",
        every_seconds=60,
        description="Mark four-eyes requests past APPROVAL_TTL expired; remind the other leads "
        "APPROVAL_REMINDER_BEFORE a request expires, once.",
    ),
    Periodic(
        name="deadlines: remediation plan reminders",
        task="cases.tasks.plan_reminders_send",
        crontab="5 * * * *",
        description="Remind accounts of their remediation plan's deadline (hourly).",
    ),
    Periodic(
        name="deadlines: daily digest",
        task="cases.tasks.digests_send",
        crontab="0 7 * * *",
        description="Each staff member's open cases by deadline, overdue first (07:00 UTC).",
    ),
    Periodic(
        name="retention: purge what is past its period",
        task="cases.tasks.retention_purge",
        crontab="30 3 * * *",
        description="Delete the data past its retention period (RETENTION_*_DAYS) that no "
        "active legal hold keeps, and record it on the timelines (03:30 UTC).",
    ),
    Periodic(
        name="api: purge expired idempotency keys",
        task="accounts.tasks.idempotency_keys_purge",
        every_seconds=3600,
        description="Idempotency-Key records are kept 24 hours (IDEMPOTENCY_KEY_TTL).",
    ),
)
