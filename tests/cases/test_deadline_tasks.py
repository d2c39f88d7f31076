"""The periodic tasks behind the deadlines, and their registration with beat."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from cases import tasks
from cases.models import Reminder
from cases.services import case_assign
from config.celery import app
from config.schedule import PERIODIC_TASKS
from tests.cases.deadline_helpers import T0, frozen, open_case

DEADLINE_TASKS = {
    "cases.tasks.deadlines_sweep",
    "cases.tasks.plan_reminders_send",
    "cases.tasks.digests_send",
}


def test_every_deadline_task_in_the_schedule_is_a_registered_task() -> None:
    scheduled = {p.task for p in PERIODIC_TASKS}
    assert DEADLINE_TASKS <= scheduled
    assert DEADLINE_TASKS <= set(app.tasks.keys())


def test_setup_registers_the_sweep_every_minute_and_the_digest_daily(db: Any) -> None:
    call_command("setup_periodic_tasks")

    sweep = PeriodicTask.objects.get(task="cases.tasks.deadlines_sweep")
    assert sweep.interval is not None
    assert (sweep.interval.every, sweep.interval.period) == (60, "seconds")
    digest = PeriodicTask.objects.get(task="cases.tasks.digests_send")
    assert digest.crontab is not None
    assert (digest.crontab.minute, digest.crontab.hour) == ("0", "7")
    plans = PeriodicTask.objects.get(task="cases.tasks.plan_reminders_send")
    assert plans.crontab is not None
    assert plans.crontab.hour == "*"


def test_the_sweep_task_acts_as_of_the_time_it_is_given(
    actors: dict[str, Any], users: dict[str, User]
) -> None:
    with frozen(T0):
        case = open_case(actors["analyst"], priority="critical")
        case_assign(case=case, assignee=users["analyst"], actor=actors["analyst"])
    assert case.review_deadline is not None
    at = (case.review_deadline + timedelta(minutes=1)).isoformat()

    first = tasks.deadlines_sweep.apply(kwargs={"now": at}).get()
    again = tasks.deadlines_sweep.apply(kwargs={"now": at}).get()

    nothing = {"partner_reminders": 0, "partner_escalations": 0, "hold_reminders": 0, "failed": 0}
    assert first == {"reminders": 0, "escalations": 1, "notices": 1, **nothing}
    assert again == {"reminders": 0, "escalations": 0, "notices": 0, **nothing}
    assert Reminder.objects.get().kind == "escalation"


def test_the_digest_and_plan_tasks_run_without_a_time(
    actors: dict[str, Any], users: dict[str, User]
) -> None:
    case = open_case(actors["analyst"])
    case_assign(case=case, assignee=users["analyst"], actor=actors["analyst"])

    assert tasks.digests_send.apply().get() == 1
    assert tasks.plan_reminders_send.apply().get() == 0
