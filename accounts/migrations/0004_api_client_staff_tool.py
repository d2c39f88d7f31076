from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_idempotency_keys")]

    operations = [
        migrations.AddField(
            model_name="apiclient",
            name="staff_tool",
            field=models.BooleanField(
                default=False,
                help_text="An internal tool used by staff: its requests may name the staff member "
                "acting (the Acting-User header), who is then recorded as the one who decided.",
            ),
        ),
    ]
