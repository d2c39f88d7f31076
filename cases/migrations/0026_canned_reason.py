"""Canned reasons (cases.canned_models): every staff role may view them, leads add and change
them (core.roles); the groups made by 0002 are given the new permissions."""

import cases.canned_models
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from core.migration_grants import grants_of
from django.db import migrations, models

NEW = ("view_cannedreason", "add_cannedreason", "change_cannedreason")


grant = grants_of(*(("cases", codename) for codename in NEW))


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0025_dashboard_figures_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CannedReason",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "title",
                    models.CharField(
                        help_text="What staff pick it by, in the forms.",
                        max_length=100,
                        unique=True,
                    ),
                ),
                ("text", models.TextField(help_text="The reason as it is written into the case.")),
                (
                    "actions",
                    models.JSONField(
                        default=list,
                        help_text="The actions whose forms offer it.",
                        validators=[cases.canned_models.validate_actions],
                    ),
                ),
                (
                    "active",
                    models.BooleanField(
                        default=True,
                        help_text="Only active reasons are offered; a reason is never deleted.",
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "updated_by",
                    models.ForeignKey(
                        blank=True,
                        help_text="Who last changed it (empty: the system).",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["title"],
            },
        ),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
