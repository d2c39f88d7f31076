from django.db import migrations

from cases.guards import GUARDED_TABLES, install_sql, uninstall_sql


def install(apps, schema_editor):
    for statement in install_sql(schema_editor.connection.vendor, GUARDED_TABLES):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    for statement in uninstall_sql(schema_editor.connection.vendor, GUARDED_TABLES):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("cases", "0002_roles_and_defaults")]

    operations = [migrations.RunPython(install, uninstall)]
