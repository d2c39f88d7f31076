"""The record of statements submitted to the DSA Transparency Database (docs/transparency.md);
every staff role may view it (core.roles.VIEW_MODELS): the groups made by 0002 are given the
new view permission."""

import django.db.models.deletion
import django.utils.timezone
from core.migration_grants import grants_of
from django.db import migrations, models

NEW = ("view_statementsubmission",)


grant = grants_of(*(("cases", codename) for codename in NEW))


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0018_legal_holds"),
    ]

    operations = [
        migrations.CreateModel(
            name="StatementSubmission",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("endpoint", models.URLField(max_length=500)),
                ("puid", models.CharField(max_length=500)),
                (
                    "outcome",
                    models.CharField(
                        choices=[("created", "Created"), ("already_present", "Already present")],
                        max_length=16,
                    ),
                ),
                ("batch", models.UUIDField(help_text="The run of export_statements that sent it.")),
                ("submitted_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "decision",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="statement_submissions",
                        to="cases.decision",
                    ),
                ),
            ],
            options={
                "ordering": ["-submitted_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("endpoint", "puid"), name="statement_submission_once"
                    )
                ],
            },
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
