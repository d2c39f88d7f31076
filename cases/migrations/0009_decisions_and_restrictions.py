"""Decisions and restrictions (decisions.md); changes of the feed carry the restrictions after
them. Guards: decisions are append-only, a restriction's content is fixed and its end recorded
once, neither table is ever truncated. On SQLite, adding the columns rebuilt
``cases_enforcementchange`` and dropped its guards: they are installed again.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from cases.guards import install_sql, restriction_install_sql, restriction_uninstall_sql


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = restriction_install_sql(vendor)
    if vendor == "sqlite":
        statements += install_sql(vendor, ("cases_enforcementchange",))
    for statement in statements:
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    for statement in restriction_uninstall_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_enforcement_restrictions"),
        ("cases", "0008_signal_keys_in_c_collation"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="enforcementchange",
            name="restrictions",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="enforcementchange",
            name="until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="enforcementchange",
            name="previous_status",
            field=models.CharField(
                choices=[
                    ("active", "Active"),
                    ("restricted", "Restricted"),
                    ("suspended", "Suspended"),
                    ("terminated", "Terminated"),
                ],
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="enforcementchange",
            name="status",
            field=models.CharField(
                choices=[
                    ("active", "Active"),
                    ("restricted", "Restricted"),
                    ("suspended", "Suspended"),
                    ("terminated", "Terminated"),
                ],
                max_length=16,
            ),
        ),
        migrations.CreateModel(
            name="Decision",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("reference", models.CharField(max_length=64, unique=True)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("suspend", "Suspend"),
                            ("restrict", "Restrict"),
                            ("terminate", "Terminate"),
                            ("reinstate", "Reinstate"),
                            ("warn", "Warn"),
                            ("appeal_upheld", "Appeal upheld"),
                            ("appeal_overturned", "Appeal overturned"),
                            ("appeal_modified", "Appeal modified"),
                            ("restriction_expired", "Restriction expired"),
                        ],
                        max_length=24,
                    ),
                ),
                ("decided_at", models.DateTimeField(default=django.utils.timezone.now)),
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
                (
                    "acted_by",
                    models.CharField(
                        choices=[
                            ("person", "A person (in the admin, or with their own session)"),
                            ("person_via_tool", "A person, through a staff tool that names them"),
                            (
                                "automation",
                                "An automation (an API client on its own, or the system)",
                            ),
                        ],
                        max_length=16,
                    ),
                ),
                ("actor_label", models.CharField(max_length=200)),
                (
                    "automated",
                    models.BooleanField(default=False, help_text="Taken by automated means alone."),
                ),
                ("reason", models.TextField(blank=True)),
                ("policy_versions", models.JSONField(blank=True, default=list)),
                (
                    "override_reason",
                    models.TextField(
                        blank=True,
                        help_text="Why a lead decided against the investigation's finding.",
                    ),
                ),
                ("lifted", models.JSONField(blank=True, default=list)),
                (
                    "statement",
                    models.JSONField(blank=True, default=dict, help_text="Statement of reasons."),
                ),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="decisions",
                        to="accounts.account",
                    ),
                ),
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
                        related_name="decisions",
                        to="cases.case",
                    ),
                ),
                (
                    "event",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="decisions",
                        to="cases.caseevent",
                    ),
                ),
            ],
            options={
                "ordering": ["decided_at", "id"],
            },
        ),
        migrations.AddField(
            model_name="enforcementchange",
            name="decision",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="changes",
                to="cases.decision",
            ),
        ),
        migrations.CreateModel(
            name="Restriction",
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
                            ("termination", "Termination (all access, for good)"),
                            ("suspension", "Suspension (all API access)"),
                            ("model_block", "Model block (the named models)"),
                            ("feature_block", "Feature block (the named features)"),
                            ("rate_limit", "Rate limit"),
                        ],
                        max_length=16,
                    ),
                ),
                ("blocked_models", models.JSONField(blank=True, default=list)),
                ("blocked_features", models.JSONField(blank=True, default=list)),
                ("requests_per_minute", models.PositiveIntegerField(blank=True, null=True)),
                ("tokens_per_minute", models.PositiveIntegerField(blank=True, null=True)),
                ("starts_at", models.DateTimeField()),
                ("ends_at", models.DateTimeField(blank=True, null=True)),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="restrictions",
                        to="accounts.account",
                    ),
                ),
                (
                    "case",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="restrictions",
                        to="cases.case",
                    ),
                ),
                (
                    "decision",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="restrictions",
                        to="cases.decision",
                    ),
                ),
                (
                    "ended_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ended",
                        to="cases.decision",
                    ),
                ),
            ],
            options={
                "ordering": ["starts_at", "id"],
            },
        ),
        migrations.AddIndex(
            model_name="decision",
            index=models.Index(fields=["case", "decided_at"], name="decision_case_idx"),
        ),
        migrations.AddIndex(
            model_name="decision",
            index=models.Index(fields=["account", "decided_at"], name="decision_account_idx"),
        ),
        migrations.AddIndex(
            model_name="restriction",
            index=models.Index(
                condition=models.Q(("ended_by__isnull", True)),
                fields=["account"],
                name="restriction_open_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="restriction",
            index=models.Index(
                condition=models.Q(("ended_by__isnull", True), ("ends_at__isnull", False)),
                fields=["ends_at"],
                name="restriction_due_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="restriction",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("ends_at__isnull", True),
                    ("ends_at__gt", models.F("starts_at")),
                    _connector="OR",
                ),
                name="restriction_ends_after_start",
            ),
        ),
        migrations.RunPython(install, uninstall),
    ]
