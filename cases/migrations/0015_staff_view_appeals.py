"""Every staff role may view appeals (core.roles.VIEW_MODELS), as it views
the rest of a case; the groups made by 0002 are given the new view permission."""

from core.migration_grants import grants_of
from django.db import migrations

NEW = ("view_appeal",)


grant = grants_of(*(("cases", codename) for codename in NEW))


class Migration(migrations.Migration):
    dependencies = [("cases", "0014_appeals")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
