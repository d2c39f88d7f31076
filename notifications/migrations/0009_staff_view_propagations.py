"""Every staff role may view the partners' propagations (core.roles.VIEW_MODELS), as it views
the cases they follow; the groups made by cases 0002 are given the new view permission."""

from core.migration_grants import grants_of
from django.db import migrations

NEW = ("view_propagation",)


grant = grants_of(*(("notifications", codename) for codename in NEW))


class Migration(migrations.Migration):
    dependencies = [("notifications", "0008_propagations"), ("cases", "0002_roles_and_defaults")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
