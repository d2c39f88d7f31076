"""Signals keep the indexes queries use and drop the two that only cost every insert.

``signal_account_kind_idx`` (account, kind, occurred_at) already serves lookups by account, so
the foreign key's own index on ``account_id`` goes. Most signals cite no policy: the index on
``policy_id`` only needs the rows that do (``signal_policy_idx``, partial).

The foreign keys' indexes are dropped with ``DROP INDEX`` rather than ``AlterField``, which on
SQLite rebuilds the table and would lose its append-only triggers.
"""

import django.db.models.deletion
from django.db import migrations, models

COLUMNS = ("account_id", "policy_id")


def _single_column_indexes(schema_editor, table):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
    return [
        (name, info["columns"][0])
        for name, info in constraints.items()
        if info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and info["columns"] in ([c] for c in COLUMNS)
        and not name.startswith("signal_")
    ]


def drop_foreign_key_indexes(apps, schema_editor):
    model = apps.get_model("cases", "Signal")
    for name, _column in _single_column_indexes(schema_editor, model._meta.db_table):
        schema_editor.execute(schema_editor._delete_index_sql(model, name))


def create_foreign_key_indexes(apps, schema_editor):
    model = apps.get_model("cases", "Signal")
    for column in COLUMNS:
        field = model._meta.get_field(column.removesuffix("_id"))
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
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
            ],
            database_operations=[
                migrations.RunPython(drop_foreign_key_indexes, create_foreign_key_indexes),
            ],
        ),
        migrations.AddIndex(
            model_name="signal",
            index=models.Index(
                condition=models.Q(("policy__isnull", False)),
                fields=["policy"],
                name="signal_policy_idx",
            ),
        ),
    ]
