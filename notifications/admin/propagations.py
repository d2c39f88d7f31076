"""The partners' follow-up in the admin (partners.md): the "Partners" queue of propagations and
the per-partner table that the case and account pages show.

Both only read. A propagation moves on through the partner API and the delivery of its
webhooks (``notifications.propagations``), and its reminders are the deadline sweep's
(``cases.deadlines``); nothing here writes one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from config.times import duration_human
from core.admin import ReadOnlyAdmin, choices_filter

from ..choices import REPORTED_STATES, FollowUp, PropagationState
from ..models import Propagation
from ..selectors import (
    propagation_overdue_q,
    propagation_overdue_steps,
    propagations_annotated,
    propagations_open,
)

PANEL_LIMIT = 100  # propagations shown on a case or an account page
OVERDUE_LABELS: dict[str, str] = {
    FollowUp.ACK: "acknowledgement overdue",
    FollowUp.REPORT: "report overdue",
}
SUPERSEDED_LABEL = "superseded by a later change: not chased"


def _took(start: datetime, end: datetime | None) -> str:
    return duration_human(end - start) if end is not None else ""


@dataclass
class PropagationRow:
    """One line of the partners' table: the propagation, how long each step took from the
    moment it was made, and what it is overdue for."""

    propagation: Propagation
    to_delivered: str
    to_acknowledged: str
    to_reported: str
    overdue: list[str] = field(default_factory=list)
    superseded: str = ""  # why it is not chased, when it is superseded


def propagation_rows(queryset: QuerySet[Propagation], *, now: datetime) -> list[PropagationRow]:
    """The partners' table of a case or an account (``queryset`` filtered to it): newest
    change first, one query."""
    rows = []
    ordered = propagations_annotated(queryset.select_related("partner", "change")).order_by(
        "-change__seq", "partner__code"
    )
    for p in ordered[:PANEL_LIMIT]:
        superseded: bool = p.superseded  # type: ignore[attr-defined]  # the annotation
        rows.append(
            PropagationRow(
                propagation=p,
                to_delivered=_took(p.created_at, p.delivered_at),
                to_acknowledged=_took(p.created_at, p.acknowledged_at),
                to_reported=_took(p.created_at, p.reported_at),
                overdue=[
                    OVERDUE_LABELS[s]
                    for s in propagation_overdue_steps(p, now=now, superseded=superseded)
                ],
                superseded=SUPERSEDED_LABEL if superseded else "",
            )
        )
    return rows


class FollowUpFilter(admin.SimpleListFilter):
    """The Partners queue, each view with its count (one aggregate query over the open
    propagations). With nothing chosen, or a value it does not know, it shows the overdue
    ones: what staff chase."""

    title = "follow-up"
    parameter_name = "follow_up"
    DEFAULT = "overdue"
    QUEUES = (
        ("overdue", "Overdue"),
        ("overdue_ack", "Acknowledgement overdue"),
        ("overdue_report", "Report overdue"),
        ("undeliverable", "Undeliverable"),
        ("open", "All not reported"),
    )

    @staticmethod
    def _filters(now: datetime) -> dict[str, Q]:
        ack = propagation_overdue_q(FollowUp.ACK, now=now)
        report = propagation_overdue_q(FollowUp.REPORT, now=now)
        return {
            "overdue": ack | report,
            "overdue_ack": ack,
            "overdue_report": report,
            "undeliverable": Q(state=PropagationState.UNDELIVERABLE),
            "open": Q(),
        }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        filters = self._filters(timezone.now())
        counts = propagations_open().aggregate(
            **{key: Count("pk", filter=q) if q else Count("pk") for key, q in filters.items()}
        )
        queues = [(key, f"{label} ({counts[key]})") for key, label in self.QUEUES]
        return [*queues, ("all", "All, reported too")]

    def value(self) -> str:
        value = str(super().value() or self.DEFAULT)
        known = {key for key, _ in self.QUEUES} | {"all"}
        return value if value in known else self.DEFAULT

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Propagation]) -> QuerySet[Any]:
        value = self.value()
        if value == "all":
            return queryset
        # As ``propagations_open``: the partial index's predicate, then the view's own test.
        return queryset.exclude(state__in=REPORTED_STATES).filter(
            self._filters(timezone.now())[value]
        )


@admin.register(Propagation)
class PropagationAdmin(ReadOnlyAdmin):
    """The Partners queue: enforcement changes that partners have not acknowledged or reported
    on in time, oldest first, each linking to its case and account."""

    list_display = (
        "created_at",
        "partner",
        "change_label",
        "account_link",
        "case_link",
        "state",
        "delivered_at",
        "acknowledged_at",
        "reported_at",
        "overdue_label",
    )
    list_select_related = ("partner", "change", "account")
    list_filter = (
        FollowUpFilter,
        choices_filter("state", "state", PropagationState.choices),
        "partner",
    )
    search_fields = ("=account__external_id", "=partner__code")
    search_help_text = "Exact account external id or partner code."
    ordering = ("created_at", "pk")
    fields = (
        "partner",
        "change_label",
        "account_link",
        "case_link",
        "trigger",
        "state",
        "created_at",
        "delivered_at",
        "acknowledged_at",
        "reported_at",
        "steps_took",
        "partner_reference",
        "note",
        "undeliverable_reason",
        "overdue_label",
        "ack_reminded_at",
        "ack_escalated_at",
        "report_reminded_at",
        "report_escalated_at",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ("cases/admin.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Propagation]:
        return propagations_annotated(super().get_queryset(request))

    @admin.display(description="change", ordering="change__seq")
    def change_label(self, obj: Propagation) -> str:
        return f"{obj.change.seq} ({obj.change.status})"

    @admin.display(description="account", ordering="account__external_id")
    def account_link(self, obj: Propagation) -> SafeString:
        url = reverse("admin:accounts_account_change", args=[obj.account_id])
        return format_html('<a href="{}">{}</a>', url, obj.account.external_id)

    @admin.display(description="case", ordering="case_id")
    def case_link(self, obj: Propagation) -> SafeString | str:
        if obj.case_id is None:
            return "—"
        url = reverse("admin:cases_case_change", args=[obj.case_id])
        return format_html('<a href="{}">#{}</a>', url, obj.case_id)

    @admin.display(description="overdue")
    def overdue_label(self, obj: Propagation) -> SafeString | str:
        superseded = bool(getattr(obj, "superseded", False))
        if superseded:
            return format_html('<span class="ts-muted">{}</span>', SUPERSEDED_LABEL)
        late = propagation_overdue_steps(obj, now=timezone.now(), superseded=False)
        if not late:
            return "—"
        return format_html_join(
            " ", '<span class="ts-overdue">{}</span>', ((OVERDUE_LABELS[s],) for s in late)
        )

    @admin.display(description="how long each step took")
    def steps_took(self, obj: Propagation) -> str:
        steps = [
            ("delivered", obj.delivered_at),
            ("acknowledged", obj.acknowledged_at),
            ("reported", obj.reported_at),
        ]
        took = [f"{name} after {_took(obj.created_at, at)}" for name, at in steps if at]
        return "; ".join(took) or "—"
