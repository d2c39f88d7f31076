"""Signals are de-duplicated per API client: (client, source, dedupe_key), no longer (source,
dedupe_key) across every caller.

Signals gain ``client``, the API client that posted them. Signals stored before keep none:
nothing recorded which client posted them. Without a client they stay unique by (source,
dedupe_key) among the signals that have none (those staff and the service post), so no key
stored before is stored twice there; an API client posting one of those keys again stores a
signal of its own, in its own scope.

PostgreSQL: the new unique indexes are built ``CONCURRENTLY`` (the migration is not atomic)
before the old constraint is dropped, so signals stay writable while a large table is indexed
and a key is never without a unique check. SQLite cannot drop a table's inline constraint: the
table is rebuilt, which drops its append-only triggers, so they are installed again.
"""

import django.db.models.deletion
from django.db import migrations, models

from cases.guards import install_sql

TABLE = "cases_signal"
OLD = models.UniqueConstraint(fields=["source", "dedupe_key"], name="signal_dedupe_unique")
PER_CLIENT = models.UniqueConstraint(
    fields=["client", "source", "dedupe_key"], name="signal_dedupe_client_unique"
)
NO_CLIENT = models.UniqueConstraint(
    fields=["source", "dedupe_key"],
    condition=models.Q(client__isnull=True),
    name="signal_dedupe_no_client_unique",
)


def _reinstall_sqlite_guards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in install_sql("sqlite", (TABLE,)):
            schema_editor.execute(statement, params=None)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in (
            f"CREATE UNIQUE INDEX CONCURRENTLY {PER_CLIENT.name} "
            f"ON {TABLE} (client_id, source, dedupe_key)",
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {PER_CLIENT.name} "
            f"UNIQUE USING INDEX {PER_CLIENT.name}",
            f"CREATE UNIQUE INDEX CONCURRENTLY {NO_CLIENT.name} "
            f"ON {TABLE} (source, dedupe_key) WHERE client_id IS NULL",
            f"ALTER TABLE {TABLE} DROP CONSTRAINT {OLD.name}",
        ):
            schema_editor.execute(statement)
    else:
        # The model here has the new constraints only: rebuilding the table drops the old one.
        schema_editor.remove_constraint(apps.get_model("cases", "Signal"), OLD)
        _reinstall_sqlite_guards(apps, schema_editor)


def backwards(apps, schema_editor):
    """Back to one scope for every caller; fails if two clients have stored the same key."""
    if schema_editor.connection.vendor == "postgresql":
        for statement in (
            f"CREATE UNIQUE INDEX CONCURRENTLY {OLD.name} ON {TABLE} (source, dedupe_key)",
            f"ALTER TABLE {TABLE} ADD CONSTRAINT {OLD.name} UNIQUE USING INDEX {OLD.name}",
            f"DROP INDEX CONCURRENTLY {NO_CLIENT.name}",
            f"ALTER TABLE {TABLE} DROP CONSTRAINT {PER_CLIENT.name}",
        ):
            schema_editor.execute(statement)
    # SQLite: removing the column next rebuilds the table with the old constraint alone.


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0003_idempotency_keys"),
        ("cases", "0006_append_only_notes_evidence_and_hash_version"),
    ]

    operations = [
        # Undone last: the guards go back on the table that removing the column rebuilt.
        migrations.RunPython(migrations.RunPython.noop, _reinstall_sqlite_guards),
        migrations.AddField(
            model_name="signal",
            name="client",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.apiclient",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="signal", name=OLD.name),
                migrations.AddConstraint(model_name="signal", constraint=PER_CLIENT),
                migrations.AddConstraint(model_name="signal", constraint=NO_CLIENT),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
