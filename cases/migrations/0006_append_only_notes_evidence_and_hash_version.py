"""Notes and evidence references become append-only; events record which fields their hash covers.

- ``CaseEvent.hash_version``: the events already written were hashed without the acting user's
  and API client's ids (version 1) and keep that version and their hashes, untouched; the service
  writes every new event as version 2, whose hash covers them. ``verify_audit`` reports a
  version-1 event written after the first version-2 one.
- ``corrects`` on notes and evidence references: a correction is a new row pointing at the old.
- Guards: UPDATE and DELETE refused on ``cases_casenote`` and ``cases_evidencereference`` as on the
  other audit tables, and on PostgreSQL TRUNCATE refused on all of them. On SQLite, adding a
  column with a default or a unique one rebuilds the table and drops its triggers: they are
  installed again after the fields are added.
"""

import django.db.models.deletion
from django.db import migrations, models

from cases.guards import (
    GUARDED_TABLES,
    RECORD_TABLES,
    install_sql,
    truncate_install_sql,
    truncate_uninstall_sql,
    uninstall_sql,
)

TABLES = (*GUARDED_TABLES, *RECORD_TABLES)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in install_sql(vendor, TABLES) + truncate_install_sql(vendor, TABLES):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = truncate_uninstall_sql(vendor, TABLES) + uninstall_sql(vendor, RECORD_TABLES)
    statements += install_sql(vendor, GUARDED_TABLES)  # as 0003 left them
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("cases", "0005_event_acted_by")]

    operations = [
        migrations.AddField(
            model_name="caseevent",
            name="hash_version",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AlterField(
            model_name="caseevent",
            name="hash_version",
            field=models.PositiveSmallIntegerField(default=2),
        ),
        migrations.AddField(
            model_name="casenote",
            name="corrects",
            field=models.OneToOneField(
                blank=True,
                help_text="The note this one replaces.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="correction",
                to="cases.casenote",
            ),
        ),
        migrations.AddField(
            model_name="evidencereference",
            name="corrects",
            field=models.OneToOneField(
                blank=True,
                help_text="The reference this one replaces.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="correction",
                to="cases.evidencereference",
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
