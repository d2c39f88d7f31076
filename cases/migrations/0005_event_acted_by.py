from django.db import migrations, models

from cases.guards import install_sql


def guards_reinstall(apps, schema_editor):
    # SQLite adds the column by rebuilding the table, which drops its append-only triggers.
    if schema_editor.connection.vendor == "sqlite":
        for statement in install_sql("sqlite", ("cases_caseevent",)):
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("cases", "0004_signal_indexes_for_intake")]

    operations = [
        migrations.AddField(
            model_name="caseevent",
            name="acted_by",
            field=models.CharField(
                blank=True,
                choices=[
                    ("person", "A person (in the admin, or with their own session)"),
                    ("person_via_tool", "A person, through a staff tool that names them"),
                    ("automation", "An automation (an API client on its own, or the system)"),
                ],
                default="",
                max_length=16,
            ),
        ),
        migrations.RunPython(guards_reinstall, migrations.RunPython.noop),
    ]
