"""Every staff role may view decisions and restrictions (core.roles.VIEW_MODELS), as it views
the rest of a case; the groups made by 0002 are given the two new view permissions."""

from core.migration_grants import grants_of
from django.db import migrations

NEW = ("view_decision", "view_restriction")


grant = grants_of(*(("cases", codename) for codename in NEW))


class Migration(migrations.Migration):
    dependencies = [("cases", "0010_existing_enforcement_as_decisions")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
