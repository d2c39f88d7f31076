"""The retention purge: its record, and the DELETE guards it may pass.

``cases_purgerecord`` is append-only like the other audit tables. The DELETE guard of
``cases_signal``, ``cases_evidenceitem`` and ``cases_custodyevent`` gives way inside a
transaction that the purge opened for it (``cases.guards.purge_allowed``); UPDATE and TRUNCATE
stay refused. Custody events gain the ``purged`` action.
"""

import django.utils.timezone
from django.db import migrations, models

from cases.guards import (
    EVIDENCE_TABLES,
    PURGE_RECORD_TABLE,
    install_sql,
    purgeable_install_sql,
    purgeable_uninstall_sql,
    truncate_install_sql,
    truncate_uninstall_sql,
    uninstall_sql,
)

PURGEABLE = ("cases_signal", *EVIDENCE_TABLES)
RECORD = (PURGE_RECORD_TABLE,)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = (
        purgeable_install_sql(vendor, PURGEABLE)
        + install_sql(vendor, RECORD)
        + truncate_install_sql(vendor, RECORD)
    )
    for statement in statements:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = (
        truncate_uninstall_sql(vendor, RECORD)
        + uninstall_sql(vendor, RECORD)
        + purgeable_uninstall_sql(vendor, PURGEABLE)
    )
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0023_staff_view_all_schedules"),
    ]

    operations = [
        migrations.CreateModel(
            name="PurgeRecord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                ("actor_label", models.CharField(max_length=200)),
                ("periods", models.JSONField(default=dict)),
                ("cutoffs", models.JSONField(default=dict)),
                ("counts", models.JSONField(default=dict)),
                ("held", models.JSONField(blank=True, default=list)),
                (
                    "cases",
                    models.PositiveIntegerField(default=0, help_text="Timelines that record it."),
                ),
            ],
            options={
                "ordering": ["-at", "-id"],
            },
        ),
        migrations.AlterField(
            model_name="custodyevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("acquired", "Acquired"),
                    ("viewed", "Viewed"),
                    ("downloaded", "Downloaded"),
                    ("exported", "Exported"),
                    ("purged", "Earlier events purged past retention"),
                ],
                max_length=16,
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
