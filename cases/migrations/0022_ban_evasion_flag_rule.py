"""The default flag rule of ban evasion: any ``ban_evasion_suspected`` signal of a reportable
link (medium for weak kinds, high for a strong one) opens or joins a case, high priority."""

from datetime import timedelta

from django.db import migrations

NAME = "Ban evasion suspected"


def seed(apps, schema_editor):
    FlagRule = apps.get_model("cases", "FlagRule")
    FlagRule.objects.get_or_create(
        name=NAME,
        defaults={
            "kind": "severity_at_least",
            "min_severity": "medium",
            "signal_kind": "ban_evasion_suspected",
            "threshold": 1,
            "window": timedelta(hours=1),
            "priority": "high",
            "active": True,
        },
    )


def unseed(apps, schema_editor):
    apps.get_model("cases", "FlagRule").objects.filter(name=NAME, incidents__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0021_dashboard_chart_indexes")]

    operations = [migrations.RunPython(seed, unseed)]
