"""Signals keep the indexes queries use and drop the two that only cost every insert.

``signal_account_kind_idx`` (account, kind, occurred_at) already serves lookups by account, so
the foreign key's own index on ``account_id`` goes. Most signals cite no policy: the index on
``policy_id`` only needs the rows that do (``signal_policy_idx``, partial).

The database side is written out rather than left to ``AlterField``/``AddIndex``: on SQLite
``AlterField`` rebuilds the table, which would lose its append-only triggers; on PostgreSQL the
indexes are built and dropped ``CONCURRENTLY`` (so the migration is not atomic), which keeps
the table writable while a large one is indexed.
"""

import django.db.models.deletion
from django.db import migrations, models

FOREIGN_KEY_COLUMNS = ("account_id", "policy_id")
POLICY_INDEX = models.Index(
    condition=models.Q(("policy__isnull", False)), fields=["policy"], name="signal_policy_idx"
)


def _concurrently(schema_editor):
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def _foreign_key_indexes(schema_editor, table):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, info in constraints.items()
        if info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and info["columns"] in ([c] for c in FOREIGN_KEY_COLUMNS)
        and not name.startswith("signal_")
    ]


def forwards(apps, schema_editor):
    model = apps.get_model("cases", "Signal")
    options = _concurrently(schema_editor)
    schema_editor.execute(POLICY_INDEX.create_sql(model, schema_editor, **options))
    for name in _foreign_key_indexes(schema_editor, model._meta.db_table):
        schema_editor.execute(schema_editor._delete_index_sql(model, name, **options))


def backwards(apps, schema_editor):
    model = apps.get_model("cases", "Signal")
    options = _concurrently(schema_editor)
    for column in FOREIGN_KEY_COLUMNS:
        field = model._meta.get_field(column.removesuffix("_id"))
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field], **options))
    schema_editor.execute(POLICY_INDEX.remove_sql(model, schema_editor, **options))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0003_idempotency_keys"),
        ("cases", "0003_append_only_guards"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="signal",
                    name="account",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="signals",
                        to="accounts.account",
                    ),
                ),
                migrations.AlterField(
                    model_name="signal",
                    name="policy",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="signals",
                        to="cases.policyclause",
                    ),
                ),
                migrations.AddIndex(model_name="signal", index=POLICY_INDEX),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
