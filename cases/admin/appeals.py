"""Appeals in the admin: the queue (open appeals, the earliest review deadline first, so the
overdue lead), the appeal page with its review and decide forms, and the recording of an
appeal from a decision's page. Every write is a call to ``cases.services.appeals``.

Who sees the buttons follows the service's own rule (``reviewer_refusal``): whoever took part
in the appealed decision, or may not review it (role, a person for an automated decision), sees
why instead.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.actors import Actor
from core.admin import FastAdmin, may_act, refusal_in_words
from core.errors import DomainError

from ..choices import APPEAL_OPEN_STATES, AppealState
from ..models import Appeal, ApprovalRequest
from ..services import appeal_decide, appeal_review_start, appeal_withdraw, reviewer_refusal
from .decisions import decision_link
from .forms import AppealDecideForm


class AppealQueueFilter(admin.SimpleListFilter):
    """Open appeals by default (received and in review); or only the overdue, or all."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("open", "Open (received, in review)"),
            ("received", "Received"),
            ("in_review", "In review"),
            ("overdue", "Overdue"),
            ("decided", "Decided or withdrawn"),
            ("all", "All"),
        ]

    def value(self) -> str:
        return str(super().value() or "open")

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Appeal]) -> QuerySet[Appeal]:
        value = self.value()
        if value == "open":
            return queryset.filter(state__in=APPEAL_OPEN_STATES)
        if value in (AppealState.RECEIVED, AppealState.IN_REVIEW):
            return queryset.filter(state=value)
        if value == "overdue":
            return queryset.filter(state__in=APPEAL_OPEN_STATES, review_deadline__lt=timezone.now())
        if value == "decided":
            return queryset.exclude(state__in=APPEAL_OPEN_STATES)
        return queryset


@admin.register(Appeal)
class AppealAdmin(FastAdmin):
    list_display = (
        "appeal_label",
        "state",
        "account_label",
        "decision_label",
        "filed_at",
        "deadline_label",
        "reviewer_label",
    )
    list_display_links = ("appeal_label",)
    list_filter = (AppealQueueFilter,)
    list_select_related = ("account", "decision")
    search_fields = ("^account__external_id", "=decision__reference")
    search_help_text = "The account's external id (or its start), or a decision's reference."
    # The earliest deadline first: overdue appeals lead the queue.
    ordering = ("review_deadline", "id")
    change_form_template = "admin/cases/appeal/change_form.html"
    fields = (
        "state",
        "decision",
        "case",
        "account",
        "reason",
        "submitted_by",
        "attachments",
        "filed_by_label",
        "filed_at",
        "review_deadline",
        "reviewer_label",
        "review_started_at",
        "decided_at",
        "outcome",
        "outcome_reason",
        "withdrawn_at",
    )
    readonly_fields = fields

    class Media:
        css = {"all": ("cases/admin.css",)}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {"title": "Appeals, the earliest deadline first", **(extra_context or {})}
        )

    @admin.display(description="appeal", ordering="id")
    def appeal_label(self, obj: Appeal) -> str:
        return f"Appeal #{obj.pk}"

    @admin.display(description="account", ordering="account__external_id")
    def account_label(self, obj: Appeal) -> str:
        return obj.account.external_id

    @admin.display(description="decision")
    def decision_label(self, obj: Appeal) -> SafeString:
        return format_html("{} ({})", decision_link(obj.decision), obj.decision.kind)

    @admin.display(description="review deadline", ordering=F("review_deadline").asc())
    def deadline_label(self, obj: Appeal) -> SafeString:
        text = f"{obj.review_deadline:%Y-%m-%d %H:%M}"
        if obj.is_overdue:
            return format_html("<span class='ts-overdue'>{} (overdue)</span>", text)
        return format_html("{}", text)

    @admin.display(description="reviewer")
    def reviewer_label(self, obj: Appeal) -> str:
        return obj.reviewer_label or "—"

    # --- the appeal page --------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/review/", wrap(self.review_view), name=f"{name}_review"),
            path("<path:object_id>/decide/", wrap(self.decide_view), name=f"{name}_decide"),
            path("<path:object_id>/withdraw/", wrap(self.withdraw_view), name=f"{name}_withdraw"),
            *super().get_urls(),
        ]

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
            context.update(self.appeal_panels(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def appeal_panels(self, request: HttpRequest, appeal: Appeal) -> dict[str, Any]:
        refusal = reviewer_refusal(appeal, Actor.for_user(request.user))
        is_open = appeal.state in APPEAL_OPEN_STATES
        may_review = is_open and refusal is None
        return {
            "appeal": appeal,
            "refusal": getattr(refusal, "detail", "") if is_open and refusal else "",
            "can_review": may_review and appeal.state == AppealState.RECEIVED,
            "decide_form": AppealDecideForm() if may_review else None,
            "can_withdraw": is_open and may_act(request),
        }

    def _appeal_for(self, request: HttpRequest, object_id: str) -> Appeal:
        appeal = self.get_object(request, unquote(object_id))
        if appeal is None:
            raise Http404("No such appeal.")
        if not self.has_view_permission(request, appeal) or not may_act(request):
            raise PermissionDenied
        return appeal

    def _back(self, appeal: Appeal) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:cases_appeal_change", args=[appeal.pk]))

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        appeal = self._appeal_for(request, object_id)
        if request.method == "POST":
            try:
                appeal_review_start(
                    appeal=appeal,
                    actor=Actor.for_user(request.user),
                    note=request.POST.get("note", "")[:2000],
                )
            except DomainError as exc:
                messages.error(request, f"{exc.title}: {refusal_in_words(exc)}")
            else:
                messages.success(request, f"Appeal #{appeal.pk} is in your review.")
        return self._back(appeal)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        appeal = self._appeal_for(request, object_id)
        if request.method != "POST":
            return self._back(appeal)
        form = AppealDecideForm(request.POST)
        if form.is_valid():
            try:
                decided = appeal_decide(
                    appeal=appeal, command=form.to_input(), actor=Actor.for_user(request.user)
                )
            except DomainError as exc:
                messages.error(
                    request, f"Nothing was decided. {exc.title}: {refusal_in_words(exc)}"
                )
            else:
                if isinstance(decided, ApprovalRequest):
                    messages.success(
                        request,
                        f"Proposed for a second lead's approval (request #{decided.pk}); the "
                        "termination stays in force until another lead approves.",
                    )
                else:
                    messages.success(request, f"Appeal #{decided.pk}: {decided.state}.")
        else:
            errors = "; ".join(
                f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items()
            )
            messages.error(request, f"Nothing was decided: {errors}")
        return self._back(appeal)

    def withdraw_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        appeal = self._appeal_for(request, object_id)
        if request.method == "POST":
            try:
                appeal_withdraw(
                    appeal=appeal,
                    actor=Actor.for_user(request.user),
                    reason=request.POST.get("reason", "")[:2000],
                )
            except DomainError as exc:
                messages.error(request, f"{exc.title}: {refusal_in_words(exc)}")
            else:
                messages.success(request, f"Appeal #{appeal.pk} is withdrawn.")
        return self._back(appeal)


__all__ = ["AppealAdmin"]
