"""Sent notices and their delivery attempts may be deleted by the retention purge, and only by
it: the DELETE guards give way inside a transaction that the purge opened for it
(``cases.guards.purge_allowed``). What a notice says stays fixed; attempts are never changed;
TRUNCATE stays refused."""

from django.db import migrations

from cases.guards import (
    DELIVERY_TABLE,
    NOTICE_TABLE,
    purgeable_install_sql,
    purgeable_uninstall_sql,
)

TABLES = (NOTICE_TABLE, DELIVERY_TABLE)


def install(apps, schema_editor):
    for statement in purgeable_install_sql(schema_editor.connection.vendor, TABLES):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    for statement in purgeable_uninstall_sql(schema_editor.connection.vendor, TABLES):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0009_staff_view_propagations"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
