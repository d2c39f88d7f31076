"""Flag rules: a window of 1 second to 366 days (intake looks back over it from each batch)
and a threshold of at least 1."""

import datetime
import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0027_saved_view"),
    ]

    operations = [
        migrations.AlterField(
            model_name="flagrule",
            name="threshold",
            field=models.PositiveIntegerField(
                default=1, validators=[django.core.validators.MinValueValidator(1)]
            ),
        ),
        migrations.AlterField(
            model_name="flagrule",
            name="window",
            field=models.DurationField(
                default=datetime.timedelta(seconds=3600),
                help_text="How far apart the signals counted together may be: 1 second to 366 days.",
                validators=[
                    django.core.validators.MinValueValidator(datetime.timedelta(seconds=1)),
                    django.core.validators.MaxValueValidator(datetime.timedelta(days=366)),
                ],
            ),
        ),
    ]
