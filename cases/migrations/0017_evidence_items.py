"""Evidence items and their chain of custody, both write-once.

UPDATE and DELETE are refused on ``cases_evidenceitem`` and ``cases_custodyevent`` by the
database, as on the other audit tables (``cases.guards``), and on PostgreSQL TRUNCATE as well.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from cases.guards import (
    EVIDENCE_TABLES,
    install_sql,
    truncate_install_sql,
    truncate_uninstall_sql,
    uninstall_sql,
)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = install_sql(vendor, EVIDENCE_TABLES) + truncate_install_sql(
        vendor, EVIDENCE_TABLES
    )
    for statement in statements:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = truncate_uninstall_sql(vendor, EVIDENCE_TABLES) + uninstall_sql(
        vendor, EVIDENCE_TABLES
    )
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_partner_contact_and_partner_keys"),
        ("cases", "0016_approval_lift_termination"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="EvidenceItem",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("upload", "Uploaded (staff or an API client)"),
                            ("snapshot", "Snapshot frozen by the service at a decision"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "name",
                    models.CharField(help_text="The file's name as acquired.", max_length=255),
                ),
                ("description", models.TextField(blank=True)),
                ("media_type", models.CharField(max_length=127)),
                ("size", models.PositiveBigIntegerField()),
                ("sha256", models.CharField(max_length=64)),
                ("storage_name", models.CharField(max_length=500, unique=True)),
                ("acquired_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "actor_kind",
                    models.CharField(
                        choices=[
                            ("staff", "Staff"),
                            ("api_client", "API client"),
                            ("system", "System"),
                        ],
                        max_length=16,
                    ),
                ),
                ("acquired_by", models.CharField(max_length=200)),
                (
                    "actor_client",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.apiclient",
                    ),
                ),
                (
                    "actor_user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="evidence_items",
                        to="cases.case",
                    ),
                ),
                (
                    "event",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="snapshots",
                        to="cases.caseevent",
                    ),
                ),
            ],
            options={
                "ordering": ["acquired_at", "id"],
            },
        ),
        migrations.CreateModel(
            name="CustodyEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("seq", models.PositiveIntegerField()),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("acquired", "Acquired"),
                            ("viewed", "Viewed"),
                            ("downloaded", "Downloaded"),
                            ("exported", "Exported"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "actor_kind",
                    models.CharField(
                        choices=[
                            ("staff", "Staff"),
                            ("api_client", "API client"),
                            ("system", "System"),
                        ],
                        max_length=16,
                    ),
                ),
                ("actor_label", models.CharField(max_length=200)),
                ("reason", models.CharField(blank=True, max_length=500)),
                ("prev_hash", models.CharField(blank=True, max_length=64)),
                ("hash", models.CharField(max_length=64)),
                (
                    "actor_client",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="accounts.apiclient",
                    ),
                ),
                (
                    "actor_user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "item",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="custody",
                        to="cases.evidenceitem",
                    ),
                ),
            ],
            options={
                "ordering": ["item_id", "seq"],
            },
        ),
        migrations.AddIndex(
            model_name="evidenceitem",
            index=models.Index(fields=["case", "acquired_at"], name="evidence_item_case_idx"),
        ),
        migrations.AddConstraint(
            model_name="custodyevent",
            constraint=models.UniqueConstraint(
                fields=("item", "seq"), name="custody_event_seq_unique"
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
