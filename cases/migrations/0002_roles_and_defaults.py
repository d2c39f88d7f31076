from datetime import timedelta

from django.contrib.auth.management import create_permissions
from django.db import migrations

DEADLINES = {
    "flagged": {
        "critical": timedelta(hours=4),
        "high": timedelta(hours=24),
        "medium": timedelta(days=3),
        "low": timedelta(days=7),
    },
    "suspended": {
        "critical": timedelta(days=2),
        "high": timedelta(days=5),
        "medium": timedelta(days=10),
        "low": timedelta(days=14),
    },
    "investigated": {p: timedelta(days=7) for p in ("critical", "high", "medium", "low")},
}


def install(apps, schema_editor):
    from core.roles import role_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in role_permissions().items():
        group, _ = Group.objects.get_or_create(name=role)
        for app_label, codename in perms:
            perm = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if perm is not None:
                group.permissions.add(perm)

    Rule = apps.get_model("cases", "ReviewDeadlineRule")
    for state, by_priority in DEADLINES.items():
        for priority, duration in by_priority.items():
            Rule.objects.get_or_create(
                state=state, priority=priority, defaults={"duration": duration}
            )

    apps.get_model("cases", "FeedCounter").objects.get_or_create(name="enforcement")

    FlagRule = apps.get_model("cases", "FlagRule")
    FlagRule.objects.get_or_create(
        name="Any critical signal",
        defaults={
            "kind": "severity_at_least",
            "min_severity": "critical",
            "threshold": 1,
            "window": timedelta(hours=24),
        },
    )
    FlagRule.objects.get_or_create(
        name="10 rate_limit_exceeded in an hour",
        defaults={
            "kind": "count_in_window",
            "signal_kind": "rate_limit_exceeded",
            "threshold": 10,
            "window": timedelta(hours=1),
            "priority": "medium",
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0001_initial"),
        ("accounts", "0002_initial"),
        ("notifications", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
