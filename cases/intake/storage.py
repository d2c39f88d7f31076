"""Storing a valid batch: accounts, signals, duplicates, in a fixed number of statements.

A signal is a duplicate of one stored before by the same API client (or, for staff and the
service, which post without one, by a caller without one) with the same ``source`` and
``dedupe_key``: each client has a key space of its own, so no client can find out about another's
signals or make the service drop them by posting their keys first (``Scope``).

PostgreSQL: the batch's accounts are looked up in pipeline mode while the batch is validated;
the batch is copied (binary COPY) into a session's scratch table; one statement inserts the new
signals from it (``ON CONFLICT (client_id, source, dedupe_key) DO NOTHING``) and reads back the
ids of the others, with the incidents and cases they already joined. Elsewhere (SQLite) plain
multi-row ``INSERT ... ON CONFLICT ... RETURNING`` statements, then a lookup of the duplicates.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

import psycopg
from django.db import connection
from django.utils import timezone

from accounts.models import Account
from cases.models import FlagRule, Incident, IncidentSignal, Signal

from .validation import (
    EVIDENCE_JSON,
    LIMITS,
    MAX_BATCH,
    Item,
    ValidBatch,
    batch_validate,
    plain_text,
)

SQLITE_CHUNK = 500
# The columns a batch writes.
COLUMNS = (
    "account_id",
    "kind",
    "severity",
    "occurred_at",
    "received_at",
    "source",
    "dedupe_key",
    "client_id",
    "automated",
    "policy_id",
    "summary",
    "evidence",
)
# A session's scratch table for the batch being stored (PostgreSQL): a binary COPY fills it, one
# INSERT moves the rows on, and ON COMMIT DELETE ROWS empties it when the transaction ends (a
# batch stored inside a larger transaction empties it itself). It holds what varies per signal
# (``_row``) in plain types; the INSERT casts them to the table's (and checks the lengths that
# validation checked). The evidence travels as one JSON array for the batch, joined by index.
BATCH_TABLE = "intake_signal_batch"
BATCH_COLUMNS = (
    ("ordinal", "int4"),  # in (source, dedupe_key) order: the order rows are inserted in
    ("batch_index", "int4"),  # the item's in the batch, and so in its evidence array
    ("account_id", "int8"),
    ("kind", "text"),
    ("severity", "text"),
    ("occurred_at", "timestamptz"),
    ("source", "text"),
    ("dedupe_key", "text"),
    ("policy_id", "int8"),
    ("summary", "text"),
)


# The signal's key columns compare bytes on PostgreSQL (cases migration 0008); the scratch table's
# copies of them compare the same way, so that the statement can probe the unique index.
KEY_COLUMNS = frozenset({"source", "dedupe_key"})
KEY_COLLATION = ' COLLATE "C"'


def log_query(sql: str, started: float) -> None:
    """Record a statement that bypassed Django's cursor wrapper (COPY, pipeline mode) in
    ``connection.queries`` when queries are logged, as ``execute()`` would."""
    if connection.queries_logged:
        took = time.monotonic() - started
        connection.queries_log.append({"sql": sql, "time": f"{took:.3f}"})


def _account_texts(batch: list[Any]) -> list[str]:
    """The distinct accounts a batch names, as validation reads them; only names validation can
    accept (the others make the batch invalid, and some, with NUL, PostgreSQL cannot take)."""
    given = [raw.get("account") for raw in batch if raw.__class__ is dict]
    names = {plain_text(name, LIMITS["account"]) for name in set(filter(_is_str, given))}
    # Sorted: the index scan sorts the array first, which is quick on sorted input.
    return sorted(name for name in names if name is not None)


def _is_str(value: Any) -> bool:
    return value.__class__ is str


@dataclass
class ReadAhead:
    """What the database answered while the batch was validated."""

    accounts: dict[str, int]  # external id -> id, of the batch's accounts that exist
    rules: list[FlagRule]  # the active flag rules


def batch_validate_reading_ahead(batch: Any) -> tuple[ValidBatch, ReadAhead | None]:
    """Validate the batch while the database looks up its accounts and the active flag rules.

    On PostgreSQL both queries go out in pipeline mode before validation starts and their
    answers are read when validation ends, so the database works while Python checks the items.
    They only read: ``accounts_ensure`` creates the accounts not found, inside the transaction
    that stores the batch. Elsewhere nothing is read ahead (``None``).
    """
    if connection.vendor != "postgresql" or not isinstance(batch, list):
        return batch_validate(batch), None
    wanted = _account_texts(batch[:MAX_BATCH])
    if not wanted:
        return batch_validate(batch), None
    # What ``accounts.services.account_ids_query`` asks, the names as one binary array.
    accounts_sql = (
        f"SELECT external_id, id FROM {Account._meta.db_table} "  # noqa: S608 -- model's table
        "WHERE external_id = ANY(%b)"
    )
    rule_fields = [f.attname for f in FlagRule._meta.concrete_fields]
    quote = connection.ops.quote_name  # the rule's "window" is a reserved word
    rules_sql = (
        f"SELECT {', '.join(quote(f.column) for f in FlagRule._meta.concrete_fields)} "  # noqa: S608
        f"FROM {FlagRule._meta.db_table} WHERE active ORDER BY name"
    )
    with connection.cursor() as cursor, connection.wrap_database_errors:
        pg = cursor.cursor.connection
        started = time.monotonic()
        with pg.pipeline(), psycopg.Cursor(pg) as accounts, psycopg.Cursor(pg) as rules:
            accounts.execute(accounts_sql, [wanted], prepare=False)
            rules.execute(rules_sql, prepare=False)
            valid = batch_validate(batch)
            found = dict(accounts.fetchall())
            active = [FlagRule.from_db(connection.alias, rule_fields, row) for row in rules]
        log_query(accounts_sql, started)
        log_query(rules_sql, started)
    return valid, ReadAhead(found, active)


@dataclass(frozen=True)
class Scope:
    """Whose key space a batch's keys are in: its API client's, or (``None``) that of callers
    without a client. Each matches one of the signals' two unique indexes."""

    client_id: int | None

    @property
    def conflict(self) -> str:
        """The ``ON CONFLICT`` target: the unique index of this scope."""
        if self.client_id is None:
            return "(source, dedupe_key) WHERE client_id IS NULL"
        return "(client_id, source, dedupe_key)"

    @property
    def match(self) -> str:
        """The condition on ``client_id`` of a signal in this scope (one parameter, or none)."""
        return "client_id IS NULL" if self.client_id is None else "client_id = %s"

    @property
    def params(self) -> list[int]:
        return [] if self.client_id is None else [self.client_id]


def _row(ordinal: int, item: Item) -> tuple[Any, ...]:
    return (
        ordinal,
        item.index,
        item.account_id,
        item.kind,
        item.severity,
        item.occurred_at,
        item.source,
        item.dedupe_key,
        item.policy_id,
        item.summary,
    )


def _store_sql(scope: Scope) -> str:
    """One statement: insert the batch's new signals and read back the ids of all of them.

    Rows inserted report ``stored``; the others are read, in the batch's scope only, from the
    snapshot the statement started with, which excludes the rows it inserts, with the incidents
    they already joined and those incidents' cases. Parameters: ``received_at``, ``client_id``,
    ``automated``, the evidence array, then ``scope.params``.
    """
    links = IncidentSignal._meta.db_table
    incidents = Incident._meta.db_table
    signals = Signal._meta.db_table
    # LIMIT 1 keeps the lateral lookup a nested loop over the scope's unique index.
    return f"""
        WITH stored AS (
            INSERT INTO {signals} ({", ".join(COLUMNS)})
            SELECT b.account_id, b.kind, b.severity, b.occurred_at, %s, b.source, b.dedupe_key,
                   %s, %s, b.policy_id, b.summary, e.evidence
            FROM {BATCH_TABLE} AS b
            JOIN jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS e(evidence, n)
              ON e.n = b.batch_index + 1
            ORDER BY b.ordinal
            ON CONFLICT {scope.conflict} DO NOTHING
            RETURNING id, source, dedupe_key
        )
        SELECT id, source, dedupe_key, true, NULL::bigint[], NULL::bigint[] FROM stored
        UNION ALL
        SELECT s.id, k.source, k.dedupe_key, false, j.incidents, j.cases
        FROM (
            SELECT source, dedupe_key FROM {BATCH_TABLE}
            EXCEPT SELECT source, dedupe_key FROM stored
        ) AS k
        CROSS JOIN LATERAL (
            SELECT id FROM {signals}
            WHERE {scope.match} AND source = k.source AND dedupe_key = k.dedupe_key LIMIT 1
        ) AS s
        LEFT JOIN LATERAL (
            SELECT array_agg(l.incident_id ORDER BY l.incident_id) AS incidents,
                   array_agg(i.case_id ORDER BY l.incident_id) AS cases
            FROM {links} AS l JOIN {incidents} AS i ON i.id = l.incident_id
            WHERE l.signal_id = s.id
        ) AS j ON true
    """  # noqa: S608 -- table and column names come from the models, values are parameters


def _store_postgres(
    ordered: Sequence[Item],
    evidence_json: str,
    received: datetime,
    automated: bool,
    scope: Scope,
    *,
    nested: bool,
) -> list[Any]:
    """COPY the batch into the session's scratch table, then move it on with ``_store_sql``.

    ``nested``: the batch is part of a larger transaction, so the scratch table is emptied here
    rather than at commit (a later batch of that transaction must not see these rows).
    """
    columns = ", ".join(
        f"{name} {kind}{KEY_COLLATION if name in KEY_COLUMNS else ''}"
        for name, kind in BATCH_COLUMNS
    )
    names = ", ".join(name for name, _ in BATCH_COLUMNS)
    copy_sql = f"COPY {BATCH_TABLE} ({names}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {BATCH_TABLE} ({columns}) ON COMMIT DELETE ROWS"
        )
        started = time.monotonic()
        with connection.wrap_database_errors, cursor.cursor.copy(copy_sql) as copy:
            copy.set_types([kind for _, kind in BATCH_COLUMNS])
            for ordinal, item in enumerate(ordered):
                copy.write_row(_row(ordinal, item))
        log_query(copy_sql, started)
        params = [received, scope.client_id, automated, evidence_json, *scope.params]
        cursor.execute(_store_sql(scope), params)
        rows = list(cursor.fetchall())
        if nested:
            cursor.execute(f"DELETE FROM {BATCH_TABLE}")  # noqa: S608 -- a constant name
        return rows


def _insert_generic(
    items: Sequence[Item], received: datetime, automated: bool, scope: Scope
) -> list[Any]:
    table = Signal._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    rows: list[Any] = []
    for start in range(0, len(items), SQLITE_CHUNK):
        chunk = items[start : start + SQLITE_CHUNK]
        values = ", ".join([f"({', '.join(['%s'] * len(COLUMNS))})"] * len(chunk))
        sql = (
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES {values} "  # noqa: S608
            f"ON CONFLICT {scope.conflict} DO NOTHING RETURNING id, source, dedupe_key"
        )
        params: list[Any] = []
        for i in chunk:
            params += [
                i.account_id,
                i.kind,
                i.severity,
                adapt(i.occurred_at),
                adapt(received),
                i.source,
                i.dedupe_key,
                scope.client_id,
                automated,
                i.policy_id,
                i.summary,
                i.evidence_json or EVIDENCE_JSON.encode(i.evidence),
            ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows.extend(
                (pk, source, key, True, None, None) for pk, source, key in cursor.fetchall()
            )
    return rows


def _prior_links(signal_ids: set[int]) -> dict[int, list[tuple[int, int | None]]]:
    """The incidents (and their cases) that these signals joined before this batch."""
    prior: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    for signal_id, incident_id, case_id in (
        IncidentSignal.objects.filter(signal_id__in=signal_ids)
        .order_by("incident_id")
        .values_list("signal_id", "incident_id", "incident__case_id")
    ):
        prior[signal_id].append((incident_id, case_id))
    return prior


def batch_store(valid: ValidBatch, automated: bool, client_id: int | None, *, nested: bool) -> None:
    """Insert the batch; mark each item stored (first of its key in the scope of ``client_id``)
    or duplicate, with its id.

    A duplicate also carries the incidents its signal joined before (``Item.prior``).
    """
    scope = Scope(client_id)
    items = valid.items
    received = timezone.now()
    # One key order for every batch: two batches sharing keys wait on each other, never deadlock.
    ordered = sorted(items, key=attrgetter("source", "dedupe_key"))
    if connection.vendor == "postgresql":
        rows = _store_postgres(
            ordered, valid.evidence_json, received, automated, scope, nested=nested
        )
    else:
        rows = _insert_generic(ordered, received, automated, scope)
    inserted: dict[tuple[str, str], int] = {}
    existing: dict[tuple[str, str], int] = {}
    prior: dict[int, list[tuple[int, int | None]]] = {}
    for pk, source, key, new, incident_ids, case_ids in rows:
        if new:
            inserted[(source, key)] = pk
        else:
            existing[(source, key)] = pk
            if incident_ids:
                prior[pk] = list(zip(incident_ids, case_ids, strict=True))
    claimed: set[tuple[str, str]] = set()
    missing: list[Item] = []
    for item in items:
        pair = (item.source, item.dedupe_key)
        if pair in inserted:
            item.signal_id = inserted[pair]
            if pair not in claimed:
                claimed.add(pair)
                item.stored = True
        elif pair in existing:
            item.signal_id = existing[pair]
        else:
            missing.append(item)
    if missing:
        # Stored before this batch (on SQLite), or by a batch that committed while this one
        # waited on its keys (PostgreSQL): read them now.
        wanted = {(i.source, i.dedupe_key) for i in missing}
        found = {
            (s, d): pk
            for s, d, pk in Signal.objects.filter(
                client_id=client_id,
                source__in={s for s, _ in wanted},
                dedupe_key__in={d for _, d in wanted},
            ).values_list("source", "dedupe_key", "id")
            if (s, d) in wanted
        }
        prior.update(_prior_links(set(found.values())))
        for item in missing:
            item.signal_id = found.get((item.source, item.dedupe_key))
    for item in items:
        if not item.stored and item.signal_id in prior:
            item.prior = prior[item.signal_id]
