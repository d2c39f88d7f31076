"""The transparency report in the admin (docs/transparency.md, docs/admin.md): the figures of
``transparency_report`` for a period, with bar charts drawn on the server as SVG (no script, no
chart library), and the same figures as CSV. Read-only; staff who may view decisions see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from config.times import duration_human
from core.admin import reads_only

from ..transparency_report import Row, TransparencyReport, transparency_report

BAR_WIDTH = 320  # pixels of the longest bar
BAR_HEIGHT = 18
DEFAULT_DAYS = 30


class PeriodForm(forms.Form):
    start = forms.DateField(label="From (inclusive)")
    end = forms.DateField(label="To (exclusive)")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise forms.ValidationError("'To' must be after 'From'.")
        return data


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str
    width: int
    y: int


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    height: int


def chart(title: str, rows: list[tuple[str, float, str]]) -> Chart:
    """Horizontal bars scaled to the largest value (all empty when every value is 0)."""
    top = max((value for _, value, _ in rows), default=0) or 1
    bars = [
        Bar(
            label=label,
            value=value,
            text=text,
            width=round(BAR_WIDTH * value / top),
            y=i * (BAR_HEIGHT + 6),
        )
        for i, (label, value, text) in enumerate(rows)
    ]
    return Chart(title=title, bars=bars, height=max(1, len(bars)) * (BAR_HEIGHT + 6))


def _counts(rows: list[Row]) -> list[tuple[str, float, str]]:
    return [(r.breakdown, float(r.value or 0), str(r.value or 0)) for r in rows]


def charts(report: TransparencyReport) -> list[Chart]:
    by_metric: dict[str, list[Row]] = {}
    for row in report.rows:
        by_metric.setdefault(row.metric, []).append(row)
    medians = [
        ("Cases: opening to decision", report.value("median_time_to_decision")),
        ("Appeals: filing to decision", report.value("median_time_to_decide_appeal")),
    ]
    return [
        chart("Restrictions imposed, by kind", _counts(by_metric["restrictions_by_kind"])),
        chart(
            "Restrictive decisions, by policy", _counts(by_metric.get("decisions_by_policy", []))
        ),
        chart("Appeals decided, by outcome", _counts(by_metric["appeals_by_outcome"])),
        chart(
            "Median time (exact)",
            [
                (
                    label,
                    float(value or 0),
                    duration_human(timedelta(seconds=float(value)))
                    if value is not None
                    else "no data",
                )
                for label, value in medians
            ],
        ),
    ]


def _period(request: HttpRequest) -> tuple[PeriodForm, datetime, datetime]:
    today = timezone.now().astimezone(UTC).date()
    initial = {"start": today - timedelta(days=DEFAULT_DAYS), "end": today + timedelta(days=1)}
    form = PeriodForm(request.GET if "start" in request.GET else initial)
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    else:
        start, end = initial["start"], initial["end"]
    return (
        form,
        datetime(start.year, start.month, start.day, tzinfo=UTC),
        datetime(end.year, end.month, end.day, tzinfo=UTC),
    )


@reads_only
def transparency_report_view(model_admin: ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    form, start, end = _period(request)
    report = transparency_report(start=start, end=end)
    if request.GET.get("format") == "csv" and form.is_valid():
        response = HttpResponse(report.csv(), content_type="text/csv; charset=utf-8")
        name = f"transparency-report-{start:%Y-%m-%d}-{end:%Y-%m-%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Transparency report",
        "opts": model_admin.model._meta,
        "form": form,
        "report": report,
        "sections": _sections(report),
        "charts": charts(report),
        "bar_width": BAR_WIDTH,
        "bar_height": BAR_HEIGHT,
        "csv_query": request.GET.urlencode(),
    }
    status = 400 if "start" in request.GET and not form.is_valid() else 200
    return TemplateResponse(
        request, "admin/cases/decision/transparency_report.html", context, status=status
    )


def _sections(report: TransparencyReport) -> list[tuple[str, list[dict[str, str]]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for row in report.rows:
        if row.value is None:
            shown = "—"
        elif row.unit == "seconds":
            shown = duration_human(timedelta(seconds=float(row.value)))
        elif row.unit == "percent":
            shown = f"{row.value} %"
        else:
            shown = str(row.value)
        out.setdefault(row.section, []).append(
            {"metric": row.metric.replace("_", " "), "breakdown": row.breakdown, "value": shown}
        )
    return [(name.replace("_", " "), rows) for name, rows in out.items()]
