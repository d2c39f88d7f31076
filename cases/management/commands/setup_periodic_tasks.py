"""Register the periodic tasks of ``config.schedule`` with django-celery-beat."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from config.schedule import PERIODIC_TASKS


class Command(BaseCommand):
    help = "Create the periodic tasks (sweeps, reminders, digests) if they are missing."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="Put schedules back to the defaults in code."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            for entry in PERIODIC_TASKS:
                existing = PeriodicTask.objects.filter(name=entry.name).first()
                if existing is not None and not options["reset"]:
                    continue
                fields: dict[str, Any] = {"task": entry.task, "description": entry.description}
                if entry.every_seconds is not None:
                    interval, _ = IntervalSchedule.objects.get_or_create(
                        every=entry.every_seconds, period=IntervalSchedule.SECONDS
                    )
                    fields.update(interval=interval, crontab=None)
                else:
                    assert entry.crontab is not None  # noqa: S101  # a Periodic has one of the two
                    minute, hour, dom, month, dow = entry.crontab.split()
                    crontab, _ = CrontabSchedule.objects.get_or_create(
                        minute=minute,
                        hour=hour,
                        day_of_month=dom,
                        month_of_year=month,
                        day_of_week=dow,
                        timezone="UTC",
                    )
                    fields.update(crontab=crontab, interval=None)
                PeriodicTask.objects.update_or_create(name=entry.name, defaults=fields)
                self.stdout.write(f"periodic task: {entry.name} -> {entry.task}")
