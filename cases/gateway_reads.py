"""Reads for the API gateway and the mirrors that stand in for it (gateway.md): the
authorization check in one round trip, the feed's head for conditional polls, and the
snapshot of every account that is not active, consistent with a feed cursor.

Raw SQL where the ORM's per-query work would be the cost (as for the lookup and the check).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.choices import EnforcementStatus
from accounts.models import Account, ApiClient
from config.times import iso

from .enforcement import as_of
from .models import FeedCounter
from .selectors import _json_value, _time_text_sql

NOT_ACTIVE = (
    EnforcementStatus.RESTRICTED,
    EnforcementStatus.SUSPENDED,
    EnforcementStatus.TERMINATED,
)
SNAPSHOT_CHUNK = 2000

_AUTHZ_SQL = """
    SELECT c.key_hash, c.scopes, c.partner_id, a.id, a.enforcement_restrictions,
           (SELECT f.value FROM {counter} f WHERE f.name = %s)
    FROM {client} c
    LEFT JOIN {account} a ON a.external_id = %s
    WHERE c.key_prefix = %s AND c.revoked_at IS NULL
"""

_HEAD_SQL = """
    SELECT c.key_hash, c.scopes, c.partner_id, (SELECT f.value FROM {counter} f WHERE f.name = %s)
    FROM {client} c
    WHERE c.key_prefix = %s AND c.revoked_at IS NULL
"""


def _tables() -> dict[str, str]:
    return {
        "counter": FeedCounter._meta.db_table,
        "client": ApiClient._meta.db_table,
        "account": Account._meta.db_table,
    }


def _client(row: Any) -> dict[str, Any]:
    return {"hash": row[0], "scopes": list(_json_value(row[1]) or []), "partner": row[2]}


def gateway_authz_read(
    *, key_prefix: str, external_id: str
) -> tuple[dict[str, Any] | None, list[dict[str, Any]] | None, int]:
    """``(client, restrictions, head)`` in one round trip: the active API client of
    ``key_prefix`` (``None`` if unknown or revoked), the account's stored restrictions (``None``
    for an account never seen) and the feed's head, the change the answer reflects."""
    with connection.cursor() as cursor:
        cursor.execute(
            _AUTHZ_SQL.format(**_tables()), [FeedCounter.ENFORCEMENT, external_id, key_prefix]
        )
        row = cursor.fetchone()
    if row is None:
        return None, None, 0
    restrictions = None if row[3] is None else list(_json_value(row[4]) or [])
    return _client(row), restrictions, int(row[5] or 0)


def feed_head_with_key(*, key_prefix: str) -> tuple[dict[str, Any] | None, int]:
    """``(client, head)`` in one round trip: what a conditional poll of the feed needs."""
    with connection.cursor() as cursor:
        cursor.execute(_HEAD_SQL.format(**_tables()), [FeedCounter.ENFORCEMENT, key_prefix])
        row = cursor.fetchone()
    if row is None:
        return None, 0
    return _client(row), int(row[3] or 0)


def feed_head() -> int:
    """The last change number handed out (0 before the first)."""
    value = (
        FeedCounter.objects.filter(name=FeedCounter.ENFORCEMENT)
        .values_list("value", flat=True)
        .first()
    )
    return int(value or 0)


def feed_cursor_expired(*, first: dict[str, Any] | None) -> bool:
    """Whether a reader has fallen behind the feed's retention: the next change it would read
    (``first``, as the feed read it; ``None``: there is none) is older than
    ``ENFORCEMENT_FEED_RETENTION``, so it must start again from a snapshot."""
    if first is None:
        return False
    at = first["at"]
    at_text = at if isinstance(at, str) else iso(at)
    retention: timedelta = settings.ENFORCEMENT_FEED_RETENTION
    return at_text < iso(timezone.now() - retention)


def enforcement_snapshot() -> Iterator[bytes]:
    """Every account that is not active, one JSON line each, between a header line with the
    feed cursor it is consistent at and an end line that says the body is whole (gateway.md).

    Read in one transaction (REPEATABLE READ on PostgreSQL; SQLite's is one snapshot anyway)
    through a server-side cursor, so memory stays flat whatever the number of accounts.
    Restrictions past their ``ends_at`` are dropped, as every reader does: an account whose
    restrictions have all ended since it was last written (the expiry job runs within the
    minute) is listed as ``active`` with none, so that the count in the header holds.
    """
    now_text = iso(timezone.now())
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor_value = feed_head()
        count = Account.objects.filter(enforcement_status__in=NOT_ACTIVE).count()
        yield (
            orjson.dumps({"cursor": str(cursor_value), "taken_at": now_text, "accounts": count})
            + b"\n"
        )
        table = Account._meta.db_table
        marks = ", ".join(["%s"] * len(NOT_ACTIVE))
        # Table and column names from the models; the values go as parameters.
        sql = (
            f"SELECT external_id, enforcement_status, {_time_text_sql('enforcement_since')}, "  # noqa: S608
            f"enforcement_case_id, {_time_text_sql('enforcement_until')}, "
            f"enforcement_restrictions FROM {table} "
            f"WHERE enforcement_status IN ({marks}) ORDER BY id"
        )
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql, list(NOT_ACTIVE))
            while rows := cursor.fetchmany(SNAPSHOT_CHUNK):
                lines = []
                for external_id, status, since, case, until, stored in rows:
                    status, since, until, case, restrictions = as_of(
                        status=status,
                        since=since,
                        until=until,
                        case=case,
                        restrictions=_json_value(stored) or [],
                        now=now_text,
                    )
                    lines.append(
                        orjson.dumps(
                            {
                                "account": external_id,
                                "status": status,
                                "since": since,
                                "until": until,
                                "case": case,
                                "restrictions": restrictions,
                            }
                        )
                    )
                if lines:
                    yield b"\n".join(lines) + b"\n"
        yield orjson.dumps({"end": True, "accounts": count, "cursor": str(cursor_value)}) + b"\n"
