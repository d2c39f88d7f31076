"""The admin's front page: what needs someone now, per role, in a fixed number of queries.

``WorkbenchSite`` is the admin site (``cases.apps.WorkbenchAdminConfig`` makes it the default):
its index is the dashboard, and its list of models is grouped into *Work*, *Records* and
*Settings*. Settings are shown in full to leads and auditors; analysts and investigators, who
change none of them, see the rules and policies they work by, not the beat schedule or users.
Every page stays reachable by URL for every role that may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from cases.choices import APPEAL_OPEN_STATES, OPEN_STATES, ApprovalState, CaseState
from cases.models import BREACHES, Appeal, ApprovalRequest, Case, CaseEvent, Reminder
from cases.selectors import contactless_accounts
from cases.services.saved_views import saved_view_list
from cases.transparency_report import median_and_count
from core.admin import is_lead, request_role
from core.roles import Role
from notifications.selectors import propagation_overdue_q, propagations_open

DUE_SOON = timedelta(hours=24)
CHART_DAYS = 30

# The sections of the model list: (app label, model name) in the order shown.
WORK = (
    ("cases", "case"),
    ("cases", "approvalrequest"),
    ("cases", "appeal"),
    ("cases", "decision"),
    ("notifications", "propagation"),
    ("accounts", "account"),
    ("notifications", "notice"),
)
SETTINGS_FOR_ALL = (
    ("cases", "policyclause"),
    ("cases", "policyversion"),
    ("cases", "flagrule"),
    ("cases", "reviewdeadlinerule"),
    ("cases", "cannedreason"),
    ("accounts", "partner"),
    ("notifications", "webhookendpoint"),
)
# Shown under Settings to leads and auditors only (the beat schedule, users, API clients).
SETTINGS_APPS_IN_FULL = ("django_celery_beat", "auth")
SETTINGS_IN_FULL = (("accounts", "apiclient"),)


def sees_all_settings(request: HttpRequest) -> bool:
    return is_lead(request) or request_role(request) == Role.AUDITOR


@dataclass(frozen=True)
class Tile:
    """One count on the dashboard, linking to the queue that lists what it counts."""

    key: str
    label: str
    count: int
    url: str
    urgent: bool = False


@dataclass(frozen=True)
class Bar:
    day: date
    opened: int
    closed: int
    breached: int = 0


@dataclass(frozen=True)
class Median:
    """The exact median of a duration over the cases it was measured on (``None`` if none)."""

    label: str
    seconds: float | None
    count: int

    @property
    def duration(self) -> timedelta | None:
        return timedelta(seconds=round(self.seconds)) if self.seconds is not None else None


def _url(name: str, query: str) -> str:
    return f"{reverse(name)}?{query}"


def dashboard_tiles(request: HttpRequest, now: datetime) -> list[Tile]:
    """The counts of the dashboard: five queries whatever the number of cases."""
    cases = Case.objects.filter(state__in=OPEN_STATES).aggregate(
        open=Count("pk"),
        mine=Count("pk", filter=Q(assignee_id=request.user.pk)),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        overdue=Count("pk", filter=Q(review_deadline__lt=now)),
        due_soon=Count(
            "pk", filter=Q(review_deadline__gte=now, review_deadline__lt=now + DUE_SOON)
        ),
    )
    approvals = ApprovalRequest.objects.filter(
        state=ApprovalState.PENDING, expires_at__gt=now
    ).count()
    appeals = Appeal.objects.filter(state__in=APPEAL_OPEN_STATES).aggregate(
        open=Count("pk"), overdue=Count("pk", filter=Q(review_deadline__lt=now))
    )
    partners = propagations_open().filter(
        propagation_overdue_q("ack", now=now) | propagation_overdue_q("report", now=now)
    )
    contactless = contactless_accounts().count()
    case_list = "admin:cases_case_changelist"
    tiles = [
        Tile("mine", "My open cases", cases["mine"], _url(case_list, "queue=mine")),
        Tile(
            "unassigned",
            "Unassigned",
            cases["unassigned"],
            _url(case_list, "queue=unassigned"),
        ),
        Tile(
            "overdue",
            "Overdue",
            cases["overdue"],
            _url(case_list, "queue=overdue"),
            urgent=cases["overdue"] > 0,
        ),
        Tile("due_soon", "Due within 24 h", cases["due_soon"], _url(case_list, "queue=due_soon")),
        Tile("open", "All open cases", cases["open"], _url(case_list, "queue=open")),
        Tile(
            "approvals",
            "Pending approvals",
            approvals,
            _url("admin:cases_approvalrequest_changelist", "state=pending"),
            urgent=approvals > 0 and is_lead(request),
        ),
        Tile(
            "appeals",
            "Open appeals",
            appeals["open"],
            _url("admin:cases_appeal_changelist", "queue=open"),
        ),
        Tile(
            "appeals_overdue",
            "Appeals overdue",
            appeals["overdue"],
            _url("admin:cases_appeal_changelist", "queue=overdue"),
            urgent=appeals["overdue"] > 0,
        ),
        Tile(
            "partners_overdue",
            "Partner follow-ups overdue",
            partners.count(),
            _url("admin:notifications_propagation_changelist", "follow_up=overdue"),
        ),
        Tile(
            "contactless",
            "Accounts with an open case and no contact",
            contactless,
            _url("admin:accounts_account_changelist", "contact=none_open"),
            urgent=contactless > 0,
        ),
    ]
    if request_role(request) == Role.AUDITOR:
        tiles = [t for t in tiles if t.key != "mine"]  # an auditor is assigned nothing
    return tiles


def _per_day(queryset: QuerySet[Any], field: str) -> dict[date, int]:
    return dict(
        queryset.annotate(day=TruncDate(field))
        .order_by()
        .values_list("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )


def chart_start(now: datetime, days: int = CHART_DAYS) -> datetime:
    return (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)


def dashboard_saved_views(request: HttpRequest) -> list[tuple[str, str]]:
    """The person's saved views of the case list, as (name, URL): one query."""
    case_list = reverse("admin:cases_case_changelist")
    return [
        (name, f"{case_list}?{query}" if query else case_list)
        for name, query in saved_view_list(user=request.user).values_list("name", "query")
    ]


def dashboard_chart(now: datetime, days: int = CHART_DAYS) -> list[Bar]:
    """Cases opened and closed, and deadlines breached, per day (UTC) over the last ``days``
    days: three grouped queries over the days' rows only (the indexes on ``created_at`` and
    ``closed_at``, and the partial index of first escalations)."""
    start = chart_start(now, days)
    opened = _per_day(Case.objects.filter(created_at__gte=start), "created_at")
    closed = _per_day(Case.objects.filter(closed_at__gte=start), "closed_at")
    breached = _per_day(Reminder.objects.filter(BREACHES, sent_at__gte=start), "sent_at")
    first = start.date()
    return [
        Bar(day, opened.get(day, 0), closed.get(day, 0), breached.get(day, 0))
        for day in (first + timedelta(days=n) for n in range(days))
    ]


def dashboard_medians(now: datetime, days: int = CHART_DAYS) -> list[Median]:
    """Over the last ``days`` days, one query each: the median time from a case's opening to
    its triage (its first step out of flagged, for cases triaged in the period) and to its
    decision (its closing, for cases closed in the period)."""
    start = chart_start(now, days)
    events, cases = CaseEvent._meta.db_table, Case._meta.db_table
    triage = median_and_count(
        f"{events} AS e JOIN {cases} AS c ON c.id = e.case_id",
        "c.created_at",
        "e.at",
        # TRIAGE_EVENTS, as its partial index states it (so that the planner uses it).
        "e.from_state = %s AND NOT (e.to_state IN ('', %s)) AND e.at >= %s",
        [CaseState.FLAGGED, CaseState.FLAGGED, start],
    )
    decision = median_and_count(cases, "created_at", "closed_at", "closed_at >= %s", [start])
    return [
        Median("Median time to triage", *triage),
        Median("Median time to decision", *decision),
    ]


def chart_svg_bars(bars: list[Bar], *, width: int = 600, height: int = 120) -> dict[str, Any]:
    """Positions of the chart's bars (drawn by the template as SVG rectangles)."""
    series = ("opened", "closed", "breached")
    top = max([1, *(getattr(b, name) for b in bars for name in series)])
    step = width / max(len(bars), 1)
    bar_width = max(step / len(series) - 1, 1)
    rows = []
    for n, bar in enumerate(bars):
        row: dict[str, Any] = {"day": bar.day}
        for i, name in enumerate(series):
            value = getattr(bar, name)
            h = value * height / top
            row[name] = value
            row[f"x_{name}"] = round(n * step + i * bar_width, 1)
            row[f"y_{name}"] = round(height - h, 1)
            row[f"h_{name}"] = round(h, 1)
        rows.append(row)
    return {
        "bars": rows,
        "width": width,
        "height": height,
        "bar_width": round(bar_width, 1),
        "top": top,
        "total_opened": sum(b.opened for b in bars),
        "total_closed": sum(b.closed for b in bars),
        "total_breached": sum(b.breached for b in bars),
    }


class WorkbenchSite(admin.AdminSite):
    """The admin site: the dashboard as its index, the models grouped by what they are for."""

    site_header = "Trust & Safety cases"
    site_title = "Trust & Safety cases"
    index_title = "Dashboard"
    site_url = None  # no public site to go back to
    index_template = "admin/ts_dashboard.html"

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        now = timezone.now()
        context = {
            "tiles": dashboard_tiles(request, now),
            "chart": chart_svg_bars(dashboard_chart(now)),
            "medians": dashboard_medians(now),
            "chart_days": CHART_DAYS,
            "saved_views": dashboard_saved_views(request),
            "workload_url": reverse("admin:cases_case_workload"),
            "role": request_role(request) or "none",
            **(extra_context or {}),
        }
        return super().index(request, context)

    def get_app_list(
        self, request: HttpRequest, app_label: str | None = None
    ) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        models = {
            (app["app_label"], model["object_name"].lower()): model
            for app in apps
            for model in app["models"]
        }
        full = sees_all_settings(request)
        settings_keys = [*SETTINGS_FOR_ALL, *(SETTINGS_IN_FULL if full else ())]
        if full:
            settings_keys += [
                key
                for key in models
                if key[0] in SETTINGS_APPS_IN_FULL and key not in settings_keys
            ]
        work = [models[k] for k in WORK if k in models]
        settings = [models[k] for k in settings_keys if k in models]
        shown = {*WORK, *SETTINGS_FOR_ALL, *SETTINGS_IN_FULL}
        records = [
            model
            for key, model in models.items()
            if key not in shown and key[0] not in SETTINGS_APPS_IN_FULL
        ]
        index = reverse("admin:index", current_app=self.name)
        return [
            {
                "name": name,
                "app_label": label,
                "app_url": f"{index}#ts-section-{label}",
                "has_module_perms": True,
                "models": section,
            }
            for name, label, section in (
                ("Work", "work", work),
                ("Records", "records", records),
                ("Settings", "settings", settings),
            )
            if section
        ]
