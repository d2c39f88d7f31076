"""Set-based loading of benchmark data: COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from cases.guards import audit_guard_lifted, truncate_guards_disabled

ACCOUNT_COLUMNS = (
    "external_id",
    "name",
    "tier",
    "contacts",
    "direct",
    "enforcement_status",
    "enforcement_since",
    "created_at",
    "updated_at",
)
CASE_COLUMNS = (
    "account_id",
    "state",
    "priority",
    "summary",
    "findings",
    "review_deadline",
    "state_entered_at",
    "opened_by",
    "created_at",
    "updated_at",
    "closed_at",
)
DATA_TABLES = (
    "notifications_deliveryattempt",
    "notifications_notice",
    "cases_reminder",
    "cases_incidentsignal",
    "cases_incident",
    "cases_signal",
    "cases_enforcementchange",
    "cases_caseevent",
    "cases_case_policies",
    "cases_remediationitem",
    "cases_remediationplan",
    "cases_casenote",
    "cases_evidencereference",
    "cases_case",
    "accounts_channel",
    "accounts_account",
)


def account_id_text(n: int) -> str:
    return f"acct-{n:07d}"


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cols = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"  # noqa: S608
            batch: list[Sequence[Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= 5000:
                    cursor.executemany(sql, batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)


def reset() -> None:
    """Empty the tables the benchmarks fill (the audit guards are lifted, as for ``flush``)."""
    with (
        audit_guard_lifted(),
        truncate_guards_disabled(connection),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")
        else:
            for table in DATA_TABLES:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608


def load_accounts(count: int) -> None:
    now = timezone.now()
    statuses = ["active"] * 18 + ["suspended", "terminated"]
    rng = random.Random(7)
    contacts = json.dumps(["ops@example.com"])

    def rows() -> Iterable[Sequence[Any]]:
        for n in range(1, count + 1):
            yield (
                account_id_text(n),
                f"Account {n}",
                "build",
                contacts,
                True,
                rng.choice(statuses),
                now,
                now,
                now,
            )

    with transaction.atomic():
        copy_rows("accounts_account", ACCOUNT_COLUMNS, rows())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE accounts_account")


def load_cases(total: int, due: int, *, accounts: int, now: datetime | None = None) -> None:
    """``total`` cases over ``accounts`` accounts: ``due`` open ones due now, a few thousand
    open ones due far in the future, the rest closed (one open case per account at most)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(id) FROM accounts_account")
        first_id = cursor.fetchone()[0]
    open_future = min(accounts - due, 5000)

    def rows() -> Iterable[Sequence[Any]]:
        for n in range(total):
            account = first_id + (n % accounts)
            if n < due:
                state, deadline, closed = "flagged", now - timedelta(minutes=5 + n % 600), None
            elif n < due + open_future:
                state, deadline, closed = "suspended", now + timedelta(days=9), None
            else:
                state, deadline, closed = "dismissed", None, now - timedelta(days=1)
            created = now - timedelta(days=3)
            yield (
                account,
                state,
                ("critical", "high", "medium", "low")[n % 4],
                "Benchmark case",
                "",
                deadline,
                created,
                "bench",
                created,
                created,
                closed,
            )

    with transaction.atomic():
        copy_rows("cases_case", CASE_COLUMNS, rows())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE cases_case")
