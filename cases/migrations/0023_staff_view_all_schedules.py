"""Every staff role may view the whole beat schedule, its clocked and solar schedules too
(core.roles.VIEW_MODELS), and leads and auditors the API clients (core.roles.EXTRA): an
auditor sees every admin page. The groups made by 0002 are given the new view permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

NEW = {
    ("django_celery_beat", "view_clockedschedule"),
    ("django_celery_beat", "view_solarschedule"),
    ("accounts", "view_apiclient"),
}


def grant(apps, schema_editor):
    from core.roles import role_permissions

    for label in ("django_celery_beat", "accounts"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in role_permissions().items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        for app_label, codename in perms:
            if (app_label, codename) in NEW:
                perm = Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                ).first()
                if perm is not None:
                    group.permissions.add(perm)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0022_ban_evasion_flag_rule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("accounts", "0007_partner_contact_and_partner_keys"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
