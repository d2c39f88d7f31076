"""The beat schedule in the admin: every role reads it, only leads (and superusers) change it.

Every admin of django-celery-beat, every one of its actions and its add, change and delete
pages, for every role: a refusal changes no row of the schedule and runs no task.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery.app.task import Task
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import models
from django.test import Client
from django.utils import timezone
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
    SolarSchedule,
)

ROLES = ["analyst", "investigator", "auditor", "lead", "superuser"]
SCHEDULE_MODELS: list[type[models.Model]] = [
    PeriodicTask,
    IntervalSchedule,
    CrontabSchedule,
    SolarSchedule,
    ClockedSchedule,
]
# What a lead's group may do here (core.roles); a superuser may do everything.
LEAD_MAY = {
    ("periodictask", "add"),
    ("periodictask", "change"),
    ("intervalschedule", "add"),
    ("crontabschedule", "add"),
}
# django-celery-beat's own actions, as it ships them, plus the admin's delete action.
UPSTREAM_ACTIONS = {
    PeriodicTask: [*beat_admin.PeriodicTaskAdmin.actions, "delete_selected"],
    IntervalSchedule: ["delete_selected"],
    CrontabSchedule: ["delete_selected"],
    SolarSchedule: ["delete_selected"],
    ClockedSchedule: ["delete_selected"],
}
ACTION_CASES = [(m, a) for m, actions in UPSTREAM_ACTIONS.items() for a in actions]


@pytest.fixture
def staff(users: dict[str, User]) -> dict[str, User]:
    superuser = User.objects.create_superuser("root", "root@tns.example", "pw-root")
    return {**users, "superuser": superuser}


@pytest.fixture
def as_role(client: Client, staff: dict[str, User]) -> Any:
    def login(role: str) -> Client:
        client.force_login(staff[role])
        return client

    return login


@pytest.fixture
def schedule(db: Any) -> dict[type[models.Model], models.Model]:
    interval = IntervalSchedule.objects.create(every=30, period=IntervalSchedule.SECONDS)
    crontab = CrontabSchedule.objects.create(minute="5", hour="*", timezone="UTC")
    solar = SolarSchedule.objects.create(event="sunrise", latitude=48.85, longitude=2.35)
    clocked = ClockedSchedule.objects.create(clocked_time=timezone.now() + timedelta(days=1))
    task = PeriodicTask.objects.create(
        name="notices: sweep the outbox",
        task="notifications.tasks.notices_sweep",
        interval=interval,
        enabled=True,
    )
    PeriodicTasks.update_changed()
    return {
        PeriodicTask: task,
        IntervalSchedule: interval,
        CrontabSchedule: crontab,
        SolarSchedule: solar,
        ClockedSchedule: clocked,
    }


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Names of the tasks sent to the broker during the test (none is really sent)."""
    sent: list[str] = []

    def record(self: Task, *args: Any, **kwargs: Any) -> None:
        sent.append(self.name)

    monkeypatch.setattr(Task, "apply_async", record)
    yield sent


def snapshot() -> dict[str, Any]:
    """Every row of the schedule, and the change marker beat polls."""
    rows = {m.__name__: list(m.objects.order_by("pk").values()) for m in SCHEDULE_MODELS}
    marker = PeriodicTasks.objects.values_list("last_update", flat=True).first()
    return {**rows, "last_update": marker}


def url(model: type[models.Model], suffix: str = "") -> str:
    return f"/admin/django_celery_beat/{model._meta.model_name}/{suffix}"


def test_every_admin_of_django_celery_beat_is_the_lead_only_one() -> None:
    from cases.admin.schedule import LeadSchedulesMixin

    registered = [m for m in admin.site._registry if m._meta.app_label == "django_celery_beat"]

    assert set(registered) == set(SCHEDULE_MODELS)
    for model in registered:
        assert isinstance(admin.site._registry[model], LeadSchedulesMixin), model


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("model", "action"), ACTION_CASES)
def test_every_action_is_for_leads_only(
    as_role: Any,
    schedule: dict[type[models.Model], models.Model],
    published: list[str],
    role: str,
    model: type[models.Model],
    action: str,
) -> None:
    client = as_role(role)
    target = schedule[model]
    offered = client.get(url(model))
    before = snapshot()

    response = client.post(
        url(model),
        {"action": action, "_selected_action": [target.pk], "index": 0, "post": "yes"},
        follow=True,
    )

    # Leads may change periodic tasks but delete nothing (core.roles); superusers anything.
    may = role == "superuser" or (role == "lead" and action != "delete_selected")
    shown = f'value="{action}"'.encode() in offered.content
    assert shown is may
    if not may:
        assert response.status_code in (200, 403)
        assert snapshot() == before
        assert published == []
        return
    assert response.status_code == 200
    task = PeriodicTask.objects.filter(pk=target.pk).first()
    if action == "delete_selected":
        assert not model.objects.filter(pk=target.pk).exists()
    elif action == "enable_tasks":
        assert task is not None and task.enabled is True
    elif action in ("disable_tasks", "toggle_tasks"):
        assert task is not None and task.enabled is False
        assert snapshot()["last_update"] != before["last_update"]
    elif action == "run_tasks":
        assert published == ["notifications.tasks.notices_sweep"]
        assert snapshot() == before
    else:  # an action django-celery-beat added that this test does not know yet
        pytest.fail(f"no expectation for the action {action}")


def change_data(model: type[models.Model], obj: models.Model) -> dict[str, Any]:
    """A valid form for the change page of ``obj``, with a visible change."""
    if isinstance(obj, PeriodicTask):
        return {
            "name": obj.name,
            "regtask": obj.task,
            "task": obj.task,
            "interval": obj.interval_id,
            "args": "[]",
            "kwargs": "{}",
            "headers": "{}",
            "description": "changed",
        }
    if isinstance(obj, IntervalSchedule):
        return {"every": 90, "period": IntervalSchedule.SECONDS}
    if isinstance(obj, CrontabSchedule):
        return {
            "minute": "10",
            "hour": "*",
            "day_of_month": "*",
            "month_of_year": "*",
            "day_of_week": "*",
            "timezone": "UTC",
        }
    if isinstance(obj, SolarSchedule):
        return {"event": "sunset", "latitude": "48.85", "longitude": "2.35"}
    assert isinstance(obj, ClockedSchedule)
    later = timezone.now() + timedelta(days=2)
    return {
        "clocked_time_0": later.strftime("%Y-%m-%d"),
        "clocked_time_1": later.strftime("%H:%M:%S"),
    }


def add_data(model: type[models.Model], schedule: dict[type[models.Model], Any]) -> dict[str, Any]:
    """A valid form for a new row, unlike the one the change page makes."""
    data = change_data(model, schedule[model])
    tweak = {
        PeriodicTask: {"name": "a new task"},
        IntervalSchedule: {"every": 120},
        CrontabSchedule: {"minute": "20"},
        SolarSchedule: {"latitude": "40.0"},
        ClockedSchedule: {"clocked_time_0": (timezone.now() + timedelta(days=3)).date()},
    }
    return {**data, **tweak[model]}


def inlines(model: type[models.Model], obj: models.Model | None) -> dict[str, Any]:
    """The management form of a schedule's read-only list of the tasks that use it."""
    if model is PeriodicTask:
        return {}
    prefix = "periodictask_set"
    field = str(model._meta.model_name).removesuffix("schedule")
    tasks = list(PeriodicTask.objects.filter(**{field: obj})) if obj is not None else []
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(tasks)),
        f"{prefix}-INITIAL_FORMS": str(len(tasks)),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for n, task in enumerate(tasks):
        data[f"{prefix}-{n}-id"] = task.pk
    return data


def allowed(role: str, model: type[models.Model], what: str) -> bool:
    return role == "superuser" or (role == "lead" and (model._meta.model_name, what) in LEAD_MAY)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("model", SCHEDULE_MODELS)
def test_add_change_and_delete_pages_are_for_leads_only(
    as_role: Any,
    schedule: dict[type[models.Model], Any],
    published: list[str],
    role: str,
    model: type[models.Model],
) -> None:
    client = as_role(role)
    obj = schedule[model]
    before = snapshot()

    add = client.post(url(model, "add/"), {**add_data(model, schedule), **inlines(model, None)})
    assert (add.status_code == 302) is allowed(role, model, "add"), add.content[:2000]
    if not allowed(role, model, "add"):
        assert add.status_code == 403
        assert snapshot() == before

    before = snapshot()
    change = client.post(
        url(model, f"{obj.pk}/change/"), {**change_data(model, obj), **inlines(model, obj)}
    )
    assert (change.status_code == 302) is allowed(role, model, "change"), change.content[:2000]
    if not allowed(role, model, "change"):
        assert change.status_code == 403
        assert snapshot() == before

    before = snapshot()
    delete = client.post(url(model, f"{obj.pk}/delete/"), {"post": "yes"})
    assert (delete.status_code == 302) is allowed(role, model, "delete")
    if not allowed(role, model, "delete"):
        assert delete.status_code == 403
        assert snapshot() == before
    assert published == []


@pytest.mark.parametrize("role", ["analyst", "investigator", "auditor"])
def test_other_roles_read_the_schedule(
    as_role: Any, schedule: dict[type[models.Model], Any], role: str
) -> None:
    client = as_role(role)
    task = schedule[PeriodicTask]

    listing = client.get(url(PeriodicTask))
    page = client.get(url(PeriodicTask, f"{task.pk}/change/"))

    assert listing.status_code == 200 and task.name.encode() in listing.content
    assert page.status_code == 200
    assert b'name="_save"' not in page.content  # read-only: no save button
    assert b'name="action"' not in listing.content  # no actions at all
