"""Decisions in the admin: each with its statement of reasons and the restrictions it imposed or
ended; and the restrictions in force, as the gateway reads them, for the case and account pages.

Read-only: decisions are made by the case transitions and the expiry job, never edited.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.admin import ReadOnlyAdmin, ReadOnlyInline

from ..models import Decision, Restriction
from ..statements import restriction_wording


def restriction_text(view: dict[str, Any]) -> str:
    """One restriction view in a line: what it restricts, and until when."""
    what = restriction_wording(view)[0]
    end = view.get("ends_at")
    until = f" until {end[:16].replace('T', ' ')} UTC" if end else " until lifted"
    return f"{view['kind']}: {what}{until}"


def restrictions_html(views: list[dict[str, Any]]) -> SafeString:
    """The restrictions in force, each with the decision that imposed it; '—' if none."""
    if not views:
        return format_html("{}", "none: full access")
    return format_html(
        "<ul class='ts-restrictions'>{}</ul>",
        format_html_join(
            "",
            "<li class='ts-restriction-{}'>{} <code>{}</code></li>",
            ((v["kind"], restriction_text(v), v["decision"]) for v in views),
        ),
    )


def decision_link(decision: Decision) -> SafeString:
    url = reverse("admin:cases_decision_change", args=[decision.pk])
    return format_html('<a href="{}"><code>{}</code></a>', url, decision.reference)


class DecisionInline(ReadOnlyInline):
    """The decisions on an account's or a case's page, newest first."""

    model = Decision
    fields = ("reference_link", "kind", "case", "decided_at", "actor_label", "summary")
    readonly_fields = fields
    ordering = ("-decided_at", "-id")
    verbose_name_plural = "Decisions (each with its statement of reasons)"

    @admin.display(description="reference")
    def reference_link(self, obj: Decision) -> SafeString:
        return decision_link(obj)

    @admin.display(description="decision")
    def summary(self, obj: Decision) -> str:
        return str((obj.statement or {}).get("decision", {}).get("text", ""))


@admin.register(Decision)
class DecisionAdmin(ReadOnlyAdmin):
    list_display = (
        "reference",
        "kind",
        "account",
        "case",
        "decided_at",
        "actor_label",
        "automated",
    )
    list_filter = ("kind", "automated")
    search_fields = ("=reference", "^account__external_id")
    search_help_text = "A decision's reference (sor_…) or the account's external id."
    list_select_related = ("account", "case")
    ordering = ("-decided_at", "-id")
    fields = (
        "reference",
        "kind",
        "account",
        "case_link",
        "decided_at",
        "actor_kind",
        "acted_by",
        "actor_label",
        "automated",
        "reason",
        "override_reason",
        "imposed",
        "statement_html",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Decision]:
        return (
            super()
            .get_queryset(request)
            .select_related("account", "case")
            .prefetch_related(
                Prefetch(
                    "restrictions",
                    queryset=Restriction.objects.select_related("ended_by").order_by("id"),
                )
            )
        )

    @admin.display(description="case")
    def case_link(self, obj: Decision) -> SafeString:
        url = reverse("admin:cases_case_change", args=[obj.case_id])
        return format_html('<a href="{}">#{}</a>', url, obj.case_id)

    @admin.display(description="restrictions imposed")
    def imposed(self, obj: Decision) -> SafeString:
        rows = []
        for r in obj.restrictions.all():
            view = (obj.statement or {}).get("restrictions") or []
            match = next((v for v in view if v.get("kind") == r.kind), None)
            text = restriction_text(match) if match else r.kind
            if r.ended_by is not None:
                ended = format_html(
                    "ended {} by {}", f"{r.ended_at:%Y-%m-%d %H:%M}", decision_link(r.ended_by)
                )
            else:
                ended = format_html("{}", "not ended")
            rows.append(format_html("<li>{} — {}</li>", text, ended))
        if not rows:
            return format_html("{}", "none")
        return format_html("<ul>{}</ul>", format_html_join("", "{}", ((row,) for row in rows)))

    @admin.display(description="statement of reasons")
    def statement_html(self, obj: Decision) -> SafeString:
        statement = obj.statement or {}
        decision = statement.get("decision", {})
        redress = statement.get("redress") or {}
        return format_html(
            "<div class='ts-statement'><p><strong>{}</strong></p><p>Scope: {}</p>"
            "<p>Ground: {}</p><pre>{}</pre><p>From {} to {}</p><p>{}</p></div>",
            decision.get("text", ""),
            (statement.get("scope") or {}).get("restricted", ""),
            (statement.get("ground") or {}).get("text", ""),
            statement.get("facts", ""),
            statement.get("start") or "—",
            statement.get("end") or "—",
            redress.get("text", "This decision cannot be appealed."),
        )
