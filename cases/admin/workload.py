"""The workload per assignee: who holds how many open cases, how late, since when.

``/admin/cases/case/workload/`` is a read-only page for every staff role: one row per person
with open cases assigned (and one for the unassigned), counting their open cases in all, per
open state, overdue and due within 24 hours, with the age of the oldest. Each count links to
the case list of exactly those cases (``?assignee=<id>`` or ``?assignee=none``, with the queue
or state that makes the slice). The whole table is one grouped query, whatever the number of
cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from cases.choices import OPEN_STATES
from cases.dashboard import DUE_SOON
from cases.models import Case
from config.times import duration_human, for_people
from core.admin import reads_only

UNASSIGNED = "none"  # the assignee filter's value for cases nobody holds


@dataclass(frozen=True)
class Cell:
    """One count of the table and the case list that lists what it counts."""

    count: int
    url: str


@dataclass(frozen=True)
class WorkloadRow:
    key: str  # the assignee filter's value: a user id, "none"; "all" for the totals
    name: str
    inactive: bool  # the assignee is no longer active staff (their cases need a new home)
    total: Cell
    states: list[Cell]
    overdue: Cell
    due_soon: Cell
    oldest: datetime | None
    oldest_at: str  # when the oldest was opened, for people
    oldest_age: str


def _cell(count: int, assignee: str | None, **slice_: str) -> Cell:
    params = {"queue": "open", **slice_}
    if assignee is not None:
        params["assignee"] = assignee
    return Cell(count, f"{reverse('admin:cases_case_changelist')}?{urlencode(params)}")


def _row(
    key: str, name: str, counts: dict[str, Any], now: datetime, *, inactive: bool = False
) -> WorkloadRow:
    assignee = None if key == "all" else key
    oldest = counts["oldest"]
    return WorkloadRow(
        key=key,
        name=name,
        inactive=inactive,
        total=_cell(counts["total"], assignee),
        states=[_cell(counts[f"state_{s.value}"], assignee, state=s.value) for s in OPEN_STATES],
        overdue=_cell(counts["overdue"], assignee, queue="overdue"),
        due_soon=_cell(counts["due_soon"], assignee, queue="due_soon"),
        oldest=oldest,
        oldest_at=for_people(oldest),
        oldest_age=duration_human(now - oldest) if oldest is not None else "—",
    )


def workload_rows(*, now: datetime) -> tuple[list[WorkloadRow], WorkloadRow]:
    """The rows (the unassigned first, then by username) and their totals: one query."""
    counted = (
        Case.objects.filter(state__in=OPEN_STATES)
        .order_by()
        .values("assignee_id", "assignee__username", "assignee__is_active", "assignee__is_staff")
        .annotate(
            total=Count("pk"),
            **{f"state_{s.value}": Count("pk", filter=Q(state=s.value)) for s in OPEN_STATES},
            overdue=Count("pk", filter=Q(review_deadline__lt=now)),
            due_soon=Count(
                "pk", filter=Q(review_deadline__gte=now, review_deadline__lt=now + DUE_SOON)
            ),
            oldest=Min("created_at"),
        )
    )
    groups = sorted(
        counted,
        key=lambda g: (g["assignee_id"] is not None, (g["assignee__username"] or "").lower()),
    )
    rows = [
        _row(UNASSIGNED, "Unassigned", g, now)
        if g["assignee_id"] is None
        else _row(
            str(g["assignee_id"]),
            g["assignee__username"],
            g,
            now,
            inactive=not (g["assignee__is_active"] and g["assignee__is_staff"]),
        )
        for g in groups
    ]
    keys = ["total", "overdue", "due_soon", *(f"state_{s.value}" for s in OPEN_STATES)]
    totals: dict[str, Any] = {key: sum(g[key] for g in groups) for key in keys}
    totals["oldest"] = min((g["oldest"] for g in groups), default=None)
    return rows, _row("all", "All open cases", totals, now)


@reads_only
def workload_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The page (GET only: it changes nothing, and a POST is refused outright)."""
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    now = timezone.now()
    rows, totals = workload_rows(now=now)
    return TemplateResponse(
        request,
        "admin/cases/case/workload.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "title": "Workload per assignee",
            "rows": rows,
            "totals": totals,
            "states": [s.label for s in OPEN_STATES],
            "now": for_people(now),
        },
    )
