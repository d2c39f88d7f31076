"""Database-level guards that make the audit records append-only.

PostgreSQL: a row trigger refuses UPDATE and DELETE on each guarded table, and a statement
trigger refuses TRUNCATE (which row triggers do not see, and whose CASCADE would otherwise empty
every table that references the one named). SQLite: triggers refuse UPDATE and DELETE,
conditioned on ``tscase_guard()``, a function each connection of this service registers. A
client that lacks the function (the sqlite3 shell, say) fails the condition and cannot change
the rows either; SQLite has no TRUNCATE (its ``DELETE FROM`` without a condition fires the delete
triggers). ``flush``, which wipes the whole database, lifts the guards for its own duration: on
SQLite through ``tscase_guard()``, on PostgreSQL by disabling the TRUNCATE triggers inside the
flush's own transaction (``ALTER TABLE``, which only the tables' owner may run, and which a failed
flush rolls back with everything else).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

GUARDED_TABLES = (
    "cases_caseevent",
    "cases_signal",
    "cases_enforcementchange",
    "cases_policyversion",
)

# Sent notices: what was sent (content, statement of reasons, recipient) never changes, and
# neither a notice nor a delivery attempt is ever deleted. Delivery state columns do change.
NOTICE_TABLE = "notifications_notice"
NOTICE_CONTENT_COLUMNS = (
    "channel",
    "event",
    "recipient",
    "subject",
    "body_text",
    "body_html",
    "payload",
    "statement",
    "case_id",
    "account_id",
    "endpoint_id",
)
DELIVERY_TABLE = "notifications_deliveryattempt"

# Notes and evidence references: a correction is a new row that points at the one it corrects.
RECORD_TABLES = ("cases_casenote", "cases_evidencereference")

# Decisions never change; a restriction's content never changes, and its end is recorded once.
DECISION_TABLE = "cases_decision"
RESTRICTION_TABLE = "cases_restriction"
RESTRICTION_CONTENT_COLUMNS = (
    "decision_id",
    "account_id",
    "case_id",
    "kind",
    "blocked_models",
    "blocked_features",
    "requests_per_minute",
    "tokens_per_minute",
    "starts_at",
    "ends_at",
)

# Evidence items and their chain of custody: written once, never changed or deleted.
EVIDENCE_TABLES = ("cases_evidenceitem", "cases_custodyevent")

# Legal holds: what a hold says never changes, its release is recorded once, and a hold is never
# deleted (released holds stay on the record). The review reminder's bookkeeping moves.
HOLD_TABLE = "cases_legalhold"
HOLD_CONTENT_COLUMNS = (
    "account_id",
    "case_id",
    "reason",
    "legal_reference",
    "review_date",
    "placed_at",
    "placed_by",
    "placed_by_user_id",
)
HOLD_RELEASE_COLUMNS = ("released_at", "released_by", "release_reason")

# The runs of the retention purge: append-only.
PURGE_RECORD_TABLE = "cases_purgerecord"

# Every table whose rows are never deleted, so never truncated either.
TRUNCATE_GUARDED_TABLES = (
    *GUARDED_TABLES,
    *EVIDENCE_TABLES,
    *RECORD_TABLES,
    NOTICE_TABLE,
    DELIVERY_TABLE,
    DECISION_TABLE,
    RESTRICTION_TABLE,
    HOLD_TABLE,
    PURGE_RECORD_TABLE,
)

_state = threading.local()


def guard_enabled() -> int:
    return 0 if getattr(_state, "lifted", False) else 1


@contextmanager
def audit_guard_lifted() -> Iterator[None]:
    """For wiping the database (``flush``) and for tests that tamper on purpose."""
    previous = getattr(_state, "lifted", False)
    _state.lifted = True
    try:
        yield
    finally:
        _state.lifted = previous


def purge_enabled() -> int:
    return 1 if getattr(_state, "purging", False) else 0


def register_sqlite_function(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("tscase_guard", 0, guard_enabled)
        connection.connection.create_function("tscase_purge", 0, purge_enabled)


# The tables whose rows the retention purge deletes (``cases.retention``), and nothing else
# does: their DELETE guard gives way inside a transaction that has said it purges
# (``purge_allowed``). UPDATE stays refused, and so does TRUNCATE.
PURGEABLE_TABLES = ("cases_signal", *EVIDENCE_TABLES, DELIVERY_TABLE)
PURGE_SETTING = "tscase.purge"


@contextmanager
def purge_allowed(connection: Any) -> Iterator[None]:
    """Inside the caller's transaction: DELETE of the purgeable tables' rows is allowed (on
    PostgreSQL a transaction-local setting that the guard reads, on SQLite ``tscase_purge()``)."""
    if not connection.in_atomic_block:
        raise RuntimeError("A purge deletes inside a transaction.")
    previous = getattr(_state, "purging", False)
    _state.purging = True
    try:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, 'on', true)", [PURGE_SETTING])
        yield
    finally:
        _state.purging = previous
        if connection.vendor == "postgresql" and not connection.needs_rollback:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config(%s, '', true)", [PURGE_SETTING])


PG_FUNCTION = """
CREATE OR REPLACE FUNCTION tscase_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
"""


def install_sql(vendor: str, tables: tuple[str, ...]) -> list[str]:
    statements = []
    if vendor == "postgresql":
        statements.append(PG_FUNCTION)
        for table in tables:
            statements.append(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
            statements.append(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION tscase_append_only();"
            )
    elif vendor == "sqlite":
        for table in tables:
            for op in ("UPDATE", "DELETE"):
                name = f"{table}_no_{op.lower()}"
                statements.append(f"DROP TRIGGER IF EXISTS {name};")
                statements.append(
                    f"CREATE TRIGGER {name} BEFORE {op} ON {table} WHEN tscase_guard() "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END;"
                )
    return statements


def uninstall_sql(vendor: str, tables: tuple[str, ...]) -> list[str]:
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {t}_append_only ON {t};" for t in tables]
    if vendor == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {t}_no_{op};" for t in tables for op in ("update", "delete")
        ]
    return []


PG_NOTICE_FUNCTION = """
CREATE OR REPLACE FUNCTION tscase_notice_content_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'notifications_notice rows cannot be deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF ({changed}) THEN
        RAISE EXCEPTION 'what a notice says is fixed once recorded'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
"""


def notice_install_sql(vendor: str) -> list[str]:
    """Guards for sent-notice records: content of notices fixed, attempts append-only."""
    statements = install_sql(vendor, (DELIVERY_TABLE,))
    if vendor == "postgresql":
        changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in NOTICE_CONTENT_COLUMNS)
        statements += [
            PG_NOTICE_FUNCTION.format(changed=changed),
            f"DROP TRIGGER IF EXISTS {NOTICE_TABLE}_fixed ON {NOTICE_TABLE};",
            f"CREATE TRIGGER {NOTICE_TABLE}_fixed BEFORE UPDATE OR DELETE ON {NOTICE_TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION tscase_notice_content_fixed();",
        ]
    elif vendor == "sqlite":
        columns = ", ".join(NOTICE_CONTENT_COLUMNS)
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in NOTICE_CONTENT_COLUMNS)
        statements += [
            f"DROP TRIGGER IF EXISTS {NOTICE_TABLE}_no_delete;",
            f"CREATE TRIGGER {NOTICE_TABLE}_no_delete BEFORE DELETE ON {NOTICE_TABLE} "
            "WHEN tscase_guard() BEGIN "
            f"SELECT RAISE(ABORT, '{NOTICE_TABLE} rows cannot be deleted'); END;",
            f"DROP TRIGGER IF EXISTS {NOTICE_TABLE}_fixed;",
            f"CREATE TRIGGER {NOTICE_TABLE}_fixed BEFORE UPDATE OF {columns} ON {NOTICE_TABLE} "
            f"WHEN tscase_guard() AND ({changed}) BEGIN "
            "SELECT RAISE(ABORT, 'what a notice says is fixed once recorded'); END;",
        ]
    return statements


def notice_uninstall_sql(vendor: str) -> list[str]:
    statements = uninstall_sql(vendor, (DELIVERY_TABLE,))
    if vendor == "postgresql":
        statements.append(f"DROP TRIGGER IF EXISTS {NOTICE_TABLE}_fixed ON {NOTICE_TABLE};")
    elif vendor == "sqlite":
        statements += [
            f"DROP TRIGGER IF EXISTS {NOTICE_TABLE}_no_delete;",
            f"DROP TRIGGER IF EXISTS {NOTICE_TABLE}_fixed;",
        ]
    return statements


PG_RESTRICTION_FUNCTION = """
CREATE OR REPLACE FUNCTION tscase_restriction_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'cases_restriction rows cannot be deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.ended_by_id IS NOT NULL OR ({changed}) THEN
        RAISE EXCEPTION 'a restriction is fixed once imposed; its end is recorded once'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
"""


def restriction_install_sql(vendor: str) -> list[str]:
    """Guards for decisions (append-only) and restrictions (content fixed, end set once)."""
    statements = install_sql(vendor, (DECISION_TABLE,))
    table = RESTRICTION_TABLE
    if vendor == "postgresql":
        changed = " OR ".join(
            f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in RESTRICTION_CONTENT_COLUMNS
        )
        statements += [
            PG_RESTRICTION_FUNCTION.format(changed=changed),
            f"DROP TRIGGER IF EXISTS {table}_fixed ON {table};",
            f"CREATE TRIGGER {table}_fixed BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION tscase_restriction_fixed();",
        ]
    elif vendor == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in RESTRICTION_CONTENT_COLUMNS)
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_no_delete;",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"WHEN tscase_guard() BEGIN SELECT RAISE(ABORT, '{table} rows cannot be deleted'); "
            "END;",
            f"DROP TRIGGER IF EXISTS {table}_fixed;",
            f"CREATE TRIGGER {table}_fixed BEFORE UPDATE ON {table} "
            f"WHEN tscase_guard() AND (OLD.ended_by_id IS NOT NULL OR {changed}) BEGIN "
            "SELECT RAISE(ABORT, 'a restriction is fixed once imposed; its end is recorded "
            "once'); END;",
        ]
    return statements + truncate_install_sql(vendor, (DECISION_TABLE, table))


def restriction_uninstall_sql(vendor: str) -> list[str]:
    table = RESTRICTION_TABLE
    statements = uninstall_sql(vendor, (DECISION_TABLE,))
    statements += truncate_uninstall_sql(vendor, (DECISION_TABLE, table))
    if vendor == "postgresql":
        statements.append(f"DROP TRIGGER IF EXISTS {table}_fixed ON {table};")
    elif vendor == "sqlite":
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_no_delete;",
            f"DROP TRIGGER IF EXISTS {table}_fixed;",
        ]
    return statements


def truncate_trigger(table: str) -> str:
    return f"{table}_no_truncate"


def truncate_install_sql(vendor: str, tables: tuple[str, ...]) -> list[str]:
    """PostgreSQL: refuse TRUNCATE of each table, whoever asks (also when reached by CASCADE)."""
    if vendor != "postgresql":
        return []
    statements = [PG_FUNCTION]
    for table in tables:
        name = truncate_trigger(table)
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table};")
        statements.append(
            f"CREATE TRIGGER {name} BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION tscase_append_only();"
        )
    return statements


def truncate_uninstall_sql(vendor: str, tables: tuple[str, ...]) -> list[str]:
    if vendor != "postgresql":
        return []
    return [f"DROP TRIGGER IF EXISTS {truncate_trigger(t)} ON {t};" for t in tables]


def truncate_guards_installed(cursor: Any) -> list[str]:
    """The tables among TRUNCATE_GUARDED_TABLES that have their TRUNCATE trigger (PostgreSQL)."""
    cursor.execute(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND t.tgname = c.relname || '_no_truncate' "
        "AND c.relname = ANY(%s)",
        [list(TRUNCATE_GUARDED_TABLES)],
    )
    return [row[0] for row in cursor.fetchall()]


@contextmanager
def truncate_guards_disabled(connection: Any) -> Iterator[None]:
    """For ``flush`` on PostgreSQL: one transaction that disables the TRUNCATE triggers, runs the
    body and enables them again; if the body fails, the rollback restores them as well."""
    from django.db import transaction

    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        tables = truncate_guards_installed(cursor)
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {truncate_trigger(table)}")
        yield
        for table in tables:
            cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {truncate_trigger(table)}")


PG_HOLD_FUNCTION = """
CREATE OR REPLACE FUNCTION tscase_hold_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'cases_legalhold rows cannot be deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF ({changed}) OR (OLD.released_at IS NOT NULL AND ({released})) THEN
        RAISE EXCEPTION 'a legal hold is fixed once placed; its release is recorded once'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
"""


def hold_install_sql(vendor: str) -> list[str]:
    """Guards for legal holds: content fixed, release recorded once, never deleted."""
    table = HOLD_TABLE
    statements: list[str] = []
    if vendor == "postgresql":
        changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in HOLD_CONTENT_COLUMNS)
        released = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in HOLD_RELEASE_COLUMNS)
        statements += [
            PG_HOLD_FUNCTION.format(changed=changed, released=released),
            f"DROP TRIGGER IF EXISTS {table}_fixed ON {table};",
            f"CREATE TRIGGER {table}_fixed BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION tscase_hold_fixed();",
        ]
    elif vendor == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in HOLD_CONTENT_COLUMNS)
        released = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in HOLD_RELEASE_COLUMNS)
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_no_delete;",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"WHEN tscase_guard() BEGIN SELECT RAISE(ABORT, '{table} rows cannot be deleted'); "
            "END;",
            f"DROP TRIGGER IF EXISTS {table}_fixed;",
            f"CREATE TRIGGER {table}_fixed BEFORE UPDATE ON {table} "
            f"WHEN tscase_guard() AND (({changed}) OR (OLD.released_at IS NOT NULL AND "
            f"({released}))) BEGIN SELECT RAISE(ABORT, 'a legal hold is fixed once placed; its "
            "release is recorded once'); END;",
        ]
    return statements + truncate_install_sql(vendor, (table,))


def hold_uninstall_sql(vendor: str) -> list[str]:
    table = HOLD_TABLE
    statements = truncate_uninstall_sql(vendor, (table,))
    if vendor == "postgresql":
        statements.append(f"DROP TRIGGER IF EXISTS {table}_fixed ON {table};")
    elif vendor == "sqlite":
        statements += [
            f"DROP TRIGGER IF EXISTS {table}_no_delete;",
            f"DROP TRIGGER IF EXISTS {table}_fixed;",
        ]
    return statements


PG_PURGEABLE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION tscase_append_only_purgeable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('{PURGE_SETTING}', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
"""

PG_NOTICE_PURGEABLE = """
CREATE OR REPLACE FUNCTION tscase_notice_content_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF current_setting('{setting}', true) = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'notifications_notice rows cannot be deleted'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF ({changed}) THEN
        RAISE EXCEPTION 'what a notice says is fixed once recorded'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
"""


def purgeable_install_sql(vendor: str, tables: tuple[str, ...]) -> list[str]:
    """The DELETE guard of ``tables`` gives way to the retention purge (``purge_allowed``);
    the notice table's as well when it is among them."""
    statements: list[str] = []
    if vendor == "postgresql":
        statements.append(PG_PURGEABLE_FUNCTION)
        for table in tables:
            if table == NOTICE_TABLE:
                changed = " OR ".join(
                    f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in NOTICE_CONTENT_COLUMNS
                )
                statements.append(
                    PG_NOTICE_PURGEABLE.format(setting=PURGE_SETTING, changed=changed)
                )
                continue
            statements.append(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
            statements.append(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION tscase_append_only_purgeable();"
            )
    elif vendor == "sqlite":
        for table in tables:
            message = (
                f"{NOTICE_TABLE} rows cannot be deleted"
                if table == NOTICE_TABLE
                else f"{table} is append-only: DELETE refused"
            )
            statements.append(f"DROP TRIGGER IF EXISTS {table}_no_delete;")
            statements.append(
                f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
                f"WHEN tscase_guard() AND NOT tscase_purge() "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END;"
            )
    return statements


def purgeable_uninstall_sql(vendor: str, tables: tuple[str, ...]) -> list[str]:
    """Back to the guards that refuse every DELETE."""
    statements: list[str] = []
    plain = tuple(t for t in tables if t != NOTICE_TABLE)
    if vendor == "postgresql":
        statements += install_sql(vendor, plain)
        if NOTICE_TABLE in tables:
            changed = " OR ".join(
                f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in NOTICE_CONTENT_COLUMNS
            )
            statements.append(PG_NOTICE_FUNCTION.format(changed=changed))
    elif vendor == "sqlite":
        statements += [s for s in install_sql(vendor, plain) if "_no_delete" in s]
        if NOTICE_TABLE in tables:
            statements += [
                s for s in notice_install_sql(vendor) if f"{NOTICE_TABLE}_no_delete" in s
            ]
    return statements
