from django.db import migrations

from cases.guards import notice_install_sql, notice_uninstall_sql


def install(apps, schema_editor):
    for statement in notice_install_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    for statement in notice_uninstall_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_outbox_lease_and_statement_reference"),
        ("cases", "0003_append_only_guards"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
