"""The "Approvals" queue: four-eyes requests, pending first, each with the proposal beside the case,
and approve / reject for the leads who may decide it (a lead other than the proposer).

Nothing here writes: deciding goes through ``cases.services.approval_approve`` and
``approval_reject`` with the acting user, exactly as the API does.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Case as DbCase
from django.db.models import IntegerField, Q, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from core.actors import Actor
from core.admin import ReadOnlyAdmin, may_act, refusal_in_words
from core.errors import DomainError

from ..actions import MAX_TEXT
from ..choices import ApprovalState
from ..models import ApprovalRequest
from ..selectors import account_enforcement_now
from ..services import approval_approve, approval_reject
from ..services.approvals import is_proposer, may_decide
from .decisions import decision_link, restrictions_html

# Pending (and not yet past its expiry) first, then the rest; newest first within each.
PENDING_FIRST = DbCase(
    When(Q(state=ApprovalState.PENDING), then=Value(0)),
    default=Value(1),
    output_field=IntegerField(),
)


class DecideForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text="On the timeline, and in the decision's record if you approve.",
    )


class StateFilter(admin.SimpleListFilter):
    """By the state as read now: a pending request past its expiry counts as expired."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in ApprovalState.choices]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[ApprovalRequest]
    ) -> QuerySet[ApprovalRequest]:
        value = self.value()
        now = timezone.now()
        if value == ApprovalState.PENDING:
            return queryset.filter(state=ApprovalState.PENDING, expires_at__gt=now)
        if value == ApprovalState.EXPIRED:
            return queryset.filter(
                Q(state=ApprovalState.EXPIRED) | Q(state=ApprovalState.PENDING, expires_at__lte=now)
            )
        if value in ApprovalState.values:
            return queryset.filter(state=value)
        return queryset


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin):
    list_display = (
        "request_label",
        "action",
        "case_link",
        "state_label",
        "proposed_by_label",
        "proposed_at",
        "expires_at",
        "decided_by_label",
        "rationale",
    )
    list_display_links = ("request_label",)
    list_filter = (StateFilter, "action")
    search_fields = ("^case__account__external_id",)
    search_help_text = "The account's external id (or its start)."
    list_select_related = ("case__account",)
    ordering = (PENDING_FIRST.asc(), "-proposed_at", "-id")  # type: ignore[assignment]
    change_form_template = "admin/cases/approvalrequest/change_form.html"
    fields = (
        "action",
        "case_link",
        "state_label",
        "proposed_by_label",
        "proposed_at",
        "comment",
        "input",
        "expires_at",
        "decided_by_label",
        "decided_at",
        "decision_comment",
        "superseded_by",
        "decision_ref",
    )
    readonly_fields = fields

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request,
            {
                "title": "Approvals: terminations waiting for a second lead first",
                **(extra_context or {}),
            },
        )

    @admin.display(description="request", ordering="id")
    def request_label(self, obj: ApprovalRequest) -> str:
        return f"#{obj.pk}"

    @admin.display(description="case", ordering="case_id")
    def case_link(self, obj: ApprovalRequest) -> SafeString:
        url = reverse("admin:cases_case_change", args=[obj.case_id])
        return format_html(
            '<a href="{}">#{}</a> {}', url, obj.case_id, obj.case.account.external_id
        )

    @admin.display(description="state", ordering="state")
    def state_label(self, obj: ApprovalRequest) -> SafeString:
        state = obj.state_now
        return format_html(
            '<span class="ts-approval ts-approval-{}">{}</span>',
            state,
            ApprovalState(state).label,
        )

    @admin.display(description="rationale")
    def rationale(self, obj: ApprovalRequest) -> str:
        return obj.comment[:120]

    @admin.display(description="decision")
    def decision_ref(self, obj: ApprovalRequest) -> SafeString | str:
        return decision_link(obj.decision) if obj.decision is not None else "—"

    # --- the request's page, with the case beside it ------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/decide/", wrap(self.decide_view), name=f"{name}_decide"),
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
            case = obj.case
            actor = Actor.for_user(request.user)
            enforcement = account_enforcement_now(case.account)
            context.update(
                {
                    "approval": obj,
                    "case": case,
                    "case_policies": ", ".join(sorted(p.code for p in case.policies.all())),
                    "restrictions_html": restrictions_html(enforcement["restrictions"]),
                    "enforcement": enforcement,
                    "can_decide": may_act(request) and may_decide(obj, actor),
                    "is_proposer": obj.state_now == ApprovalState.PENDING
                    and is_proposer(obj, actor),
                    "decide_form": DecideForm(),
                }
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        approval = self.get_object(request, unquote(object_id))
        if approval is None:
            raise Http404("No such approval request.")
        if not self.has_view_permission(request, approval) or not may_act(request):
            raise PermissionDenied
        back = HttpResponseRedirect(
            reverse("admin:cases_approvalrequest_change", args=[approval.pk])
        )
        if request.method != "POST":
            return back
        form = DecideForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Nothing was applied: choose approve or reject.")
            return back
        actor = Actor.for_user(request.user)
        comment = form.cleaned_data["comment"]
        try:
            if form.cleaned_data["decision"] == "approve":
                done = approval_approve(approval=approval.pk, actor=actor, comment=comment)
                messages.success(
                    request,
                    f"Approved: case #{done.case_id} is {done.case.state}; the decision is "
                    f"{done.decision.reference if done.decision else '—'}.",
                )
            else:
                done = approval_reject(approval=approval.pk, actor=actor, comment=comment)
                messages.success(
                    request,
                    f"Rejected: case #{done.case_id} stays {done.case.state}, the suspension in "
                    "force. The proposer is told.",
                )
        except DomainError as exc:
            messages.error(request, f"{exc.title}: {refusal_in_words(exc)} Nothing was applied.")
        return back
