"""The Celery application: tasks live in each app's ``tasks.py``."""

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

from config import broker  # noqa: F401  -- ``filesystem://`` writes each message atomically
from config.logs import task_finished, task_publish_header, task_started

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tscase")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A request's id goes with the tasks it causes (config/logs.py).
before_task_publish.connect(task_publish_header, weak=False)
task_prerun.connect(task_started, weak=False)
task_postrun.connect(task_finished, weak=False)
