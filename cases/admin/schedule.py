"""The beat schedule (django-celery-beat) in the admin: every role reads it, leads change it.

django-celery-beat's own admins offer *Enable*, *Disable*, *Toggle* and *Run* to anyone who may
see the list, whatever their permissions. Here the same admins are registered again with every
write (the actions, add, change and delete) open to leads only (a superuser counts as a lead),
on top of the model permissions their group holds (``core.roles``). Stopping a periodic task
stops reminders, escalations or the outbox sweep, so it is a lead's decision.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from core.admin import is_lead


class LeadSchedulesMixin:
    """Add, change, delete and every action for leads only (and only with the model
    permission); an action django-celery-beat adds later is hidden from the others too."""

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        if not is_lead(request):
            return {}
        actions: dict[str, Any] = super().get_actions(request)  # type: ignore[misc]
        return actions

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_lead(request) and super().has_add_permission(request)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_lead(request) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_lead(request) and super().has_delete_permission(request, obj)  # type: ignore[misc]


class PeriodicTaskAdmin(LeadSchedulesMixin, beat_admin.PeriodicTaskAdmin):
    """The periodic tasks; each action needs the change permission, so only leads see it."""

    @admin.action(description="Enable selected tasks", permissions=["change"])
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().enable_tasks(request, queryset)

    @admin.action(description="Disable selected tasks", permissions=["change"])
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().disable_tasks(request, queryset)

    @admin.action(description="Toggle activity of selected tasks", permissions=["change"])
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().toggle_tasks(request, queryset)

    @admin.action(description="Run selected tasks", permissions=["change"])
    def run_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().run_tasks(request, queryset)


class ClockedScheduleAdmin(LeadSchedulesMixin, beat_admin.ClockedScheduleAdmin):
    pass


class CrontabScheduleAdmin(LeadSchedulesMixin, beat_admin.CrontabScheduleAdmin):
    pass


class SolarScheduleAdmin(LeadSchedulesMixin, beat_admin.SolarScheduleAdmin):
    pass


class IntervalScheduleAdmin(LeadSchedulesMixin, beat_admin.IntervalScheduleAdmin):
    pass


SCHEDULE_ADMINS: dict[type[Any], type[admin.ModelAdmin[Any]]] = {
    PeriodicTask: PeriodicTaskAdmin,
    ClockedSchedule: ClockedScheduleAdmin,
    CrontabSchedule: CrontabScheduleAdmin,
    SolarSchedule: SolarScheduleAdmin,
    IntervalSchedule: IntervalScheduleAdmin,
}

for _model, _admin_class in SCHEDULE_ADMINS.items():
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
