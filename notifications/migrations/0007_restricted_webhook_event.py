"""Endpoints that hear of suspensions also hear of the new ``enforcement.restricted``: before it
existed, a partial restriction was announced to them as a suspension."""

from django.db import migrations


def forward(apps, schema_editor):
    Endpoint = apps.get_model("notifications", "WebhookEndpoint")
    for endpoint in Endpoint.objects.all():
        events = list(endpoint.event_types or [])
        if "enforcement.suspended" in events and "enforcement.restricted" not in events:
            events.insert(events.index("enforcement.suspended") + 1, "enforcement.restricted")
            Endpoint.objects.filter(pk=endpoint.pk).update(event_types=events)


class Migration(migrations.Migration):
    dependencies = [("notifications", "0006_sent_notice_truncate_guards")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
