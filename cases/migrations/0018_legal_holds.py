"""Legal holds on accounts and cases: content fixed once placed, the release recorded once, never
deleted (``cases.guards.hold_install_sql``), TRUNCATE refused on PostgreSQL."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from cases.guards import hold_install_sql, hold_uninstall_sql


def install(apps, schema_editor):
    for statement in hold_install_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    for statement in hold_uninstall_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_partner_contact_and_partner_keys"),
        ("cases", "0017_evidence_items"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="LegalHold",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("reason", models.TextField()),
                (
                    "legal_reference",
                    models.CharField(help_text="Matter, court or request id.", max_length=200),
                ),
                (
                    "review_date",
                    models.DateField(help_text="When a lead reviews whether the hold still holds."),
                ),
                ("placed_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("placed_by", models.CharField(max_length=200)),
                ("released_at", models.DateTimeField(blank=True, null=True)),
                ("released_by", models.CharField(blank=True, max_length=200)),
                ("release_reason", models.TextField(blank=True)),
                ("reminded_for", models.DateField(blank=True, null=True)),
                (
                    "account",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="holds",
                        to="accounts.account",
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="holds",
                        to="cases.case",
                    ),
                ),
                (
                    "placed_by_user",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-placed_at", "-id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("released_at__isnull", True)),
                        fields=["review_date"],
                        name="legal_hold_active_review_idx",
                    )
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("account__isnull", False), ("case__isnull", True)),
                            models.Q(("account__isnull", True), ("case__isnull", False)),
                            _connector="OR",
                        ),
                        name="legal_hold_on_account_or_case",
                    )
                ],
            },
        ),
        migrations.RunPython(install, uninstall),
    ]
