"""PostgreSQL: TRUNCATE of sent notices and of their delivery attempts is refused, as their
UPDATE of content and DELETE already are (a TRUNCATE ... CASCADE from another table included)."""

from django.db import migrations

from cases.guards import DELIVERY_TABLE, NOTICE_TABLE, truncate_install_sql, truncate_uninstall_sql

TABLES = (NOTICE_TABLE, DELIVERY_TABLE)


def install(apps, schema_editor):
    for statement in truncate_install_sql(schema_editor.connection.vendor, TABLES):
        schema_editor.execute(statement, params=None)


def uninstall(apps, schema_editor):
    for statement in truncate_uninstall_sql(schema_editor.connection.vendor, TABLES):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0005_endpoint_gone_and_stopped_notices"),
        ("cases", "0006_append_only_notes_evidence_and_hash_version"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
