"""Decisions in the admin: each with its statement of reasons and the restrictions it imposed or
ended; and the restrictions in force, as the gateway reads them, for the case and account pages.

Read-only: decisions are made by the case transitions and the expiry job, never edited. A
decision's page lists its appeals, and staff may record one there that reached them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from core.actors import Actor
from core.admin import ReadOnlyAdmin, ReadOnlyInline, may_act, refusal_in_words
from core.errors import DomainError

from ..choices import APPEAL_OPEN_STATES
from ..models import Decision, Restriction, StatementSubmission
from ..services import appeal_file
from ..services.appeals import appeal_window_closes
from ..statements import NOT_APPEALABLE, restriction_wording
from .forms import AppealRecordForm
from .transparency import transparency_report_view


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
    change_form_template = "admin/cases/decision/change_form.html"

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

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "transparency-report/",
                self.admin_site.admin_view(self.transparency_report),
                name=f"{name}_transparency_report",
            ),
            path(
                "<path:object_id>/appeal/",
                self.admin_site.admin_view(self.appeal_record_view),
                name=f"{name}_appeal",
            ),
            *super().get_urls(),
        ]

    def transparency_report(self, request: HttpRequest) -> HttpResponse:
        return transparency_report_view(self, request)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(self.appeal_panel(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def appeal_panel(self, request: HttpRequest, decision: Decision) -> dict[str, Any]:
        """What a decision's page shows of its appeals, and the form to record one if it may."""
        appeals = list(decision.appeals.order_by("-filed_at", "-id"))
        open_appeal = next((a for a in appeals if a.state in APPEAL_OPEN_STATES), None)
        closes = appeal_window_closes(decision)
        why_not = ""
        if decision.kind in NOT_APPEALABLE:
            why_not = f"A {decision.kind} decision cannot be appealed."
        elif open_appeal is not None:
            why_not = f"Appeal #{open_appeal.pk} of this decision is open."
        elif timezone.now() > closes:
            why_not = f"The appeal window closed {closes:%Y-%m-%d %H:%M} UTC."
        return {
            "decision_appeals": appeals,
            "appeal_closes": closes,
            "appeal_why_not": why_not,
            "appeal_form": AppealRecordForm() if may_act(request) and not why_not else None,
        }

    def appeal_record_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Record an appeal of the decision that reached staff; back to the decision's page."""
        decision = self.get_object(request, unquote(object_id))
        if decision is None:
            raise Http404("No such decision.")
        back = HttpResponseRedirect(reverse("admin:cases_decision_change", args=[decision.pk]))
        if not may_act(request):
            raise PermissionDenied
        if request.method != "POST":
            return back
        form = AppealRecordForm(request.POST)
        if not form.is_valid():
            errors = "; ".join(
                f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items()
            )
            messages.error(request, f"Nothing was recorded: {errors}")
            return back
        try:
            appeal = appeal_file(
                decision=decision, command=form.to_input(), actor=Actor.for_user(request.user)
            )
        except DomainError as exc:
            messages.error(request, f"Nothing was recorded. {exc.title}: {refusal_in_words(exc)}")
            return back
        messages.success(request, f"Appeal #{appeal.pk} recorded; the account is told of it.")
        return HttpResponseRedirect(reverse("admin:cases_appeal_change", args=[appeal.pk]))

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


@admin.register(StatementSubmission)
class StatementSubmissionAdmin(ReadOnlyAdmin):
    """What the Transparency Database accepted or already held (docs/transparency.md)."""

    list_display = ("puid", "decision_link_column", "outcome", "endpoint", "submitted_at", "batch")
    list_filter = ("outcome",)
    search_fields = ("=puid",)
    search_help_text = "A statement's puid (sor_…)."
    list_select_related = ("decision",)
    ordering = ("-submitted_at", "-id")
    fields = ("puid", "decision_link_column", "outcome", "endpoint", "submitted_at", "batch")
    readonly_fields = fields

    @admin.display(description="decision")
    def decision_link_column(self, obj: StatementSubmission) -> SafeString:
        return decision_link(obj.decision)
