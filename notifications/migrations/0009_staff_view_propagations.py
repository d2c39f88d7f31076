"""Every staff role may view the partners' propagations (core.roles.VIEW_MODELS), as it views
the cases they follow; the groups made by cases 0002 are given the new view permission."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

NEW = ("view_propagation",)


def grant(apps, schema_editor):
    from core.roles import role_permissions

    app_config = apps.get_app_config("notifications")
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
            if app_label == "notifications" and codename in NEW:
                perm = Permission.objects.filter(
                    content_type__app_label=app_label, codename=codename
                ).first()
                if perm is not None:
                    group.permissions.add(perm)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0008_propagations"), ("cases", "0002_roles_and_defaults")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
