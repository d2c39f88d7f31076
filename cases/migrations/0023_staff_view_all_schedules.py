"""Every staff role may view the whole beat schedule, its clocked and solar schedules too
(core.roles.VIEW_MODELS), and leads and auditors the API clients (core.roles.EXTRA): an
auditor sees every admin page. The groups made by 0002 are given the new view permissions."""

from core.migration_grants import grants_of
from django.db import migrations

NEW = {
    ("django_celery_beat", "view_clockedschedule"),
    ("django_celery_beat", "view_solarschedule"),
    ("accounts", "view_apiclient"),
}


grant = grants_of(*sorted(NEW))


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0022_ban_evasion_flag_rule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("accounts", "0007_partner_contact_and_partner_keys"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
