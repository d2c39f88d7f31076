"""Signals' ``source`` and ``dedupe_key`` compare byte by byte (PostgreSQL's "C" collation).

They are identifiers, never sorted for people, and the unique index over them is written on
every insert and probed for every duplicate: under the database's default (libc) collation each
comparison goes through ``strcoll``, under "C" through ``memcmp``. Equality is unchanged (every
libc collation PostgreSQL uses is deterministic). PostgreSQL only; SQLite already compares
bytes. The indexes over the two columns are rebuilt, under a lock that holds signal writes back
for as long as that takes.

The models do not name the collation (SQLite has no "C" collation): a later ``AlterField`` of
either column on PostgreSQL must set it again.
"""

from django.db import migrations

COLUMNS = (("source", 100), ("dedupe_key", 200))


def _alter(collation):
    changes = ", ".join(
        f'ALTER COLUMN {name} TYPE varchar({length}) COLLATE "{collation}"'
        for name, length in COLUMNS
    )
    return f"ALTER TABLE cases_signal {changes}"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_alter("C"))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_alter("default"))


class Migration(migrations.Migration):
    dependencies = [("cases", "0007_signal_dedupe_per_client")]

    operations = [migrations.RunPython(forwards, backwards)]
