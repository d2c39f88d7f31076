"""The Celery application: tasks live in each app's ``tasks.py``."""

import os

from celery import Celery

from config import broker  # noqa: F401  -- ``filesystem://`` writes each message atomically

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tscase")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
