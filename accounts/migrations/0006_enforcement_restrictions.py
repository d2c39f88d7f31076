from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_external_id_rule"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="enforcement_restrictions",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="account",
            name="enforcement_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="account",
            name="enforcement_status",
            field=models.CharField(
                choices=[
                    ("active", "Active"),
                    ("restricted", "Restricted"),
                    ("suspended", "Suspended"),
                    ("terminated", "Terminated"),
                ],
                default="active",
                max_length=16,
            ),
        ),
    ]
