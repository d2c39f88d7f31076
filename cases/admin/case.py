"""The case admin: queues, the case page and the actions staff take on cases.

Nothing here writes a case: every change goes through ``cases.services`` with the acting
user's role, exactly as the API does. The admin only decides what to offer (buttons for the
actions the role may take from the current state) and turns typed errors into messages.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ORDER_VAR, SEARCH_VAR
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Case as DbCase
from django.db.models import (
    Count,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.forms import Form
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from accounts.models import Channel
from cases.choices import OPEN_STATES, PRIORITY_RANK, CaseState, EventAction, Priority
from cases.errors import CaseAlreadyOpen, StaleState
from cases.models import (
    Appeal,
    ApprovalRequest,
    CannedReason,
    Case,
    CaseEvent,
    CaseNote,
    Decision,
    EvidenceReference,
    Incident,
    PolicyClause,
    RemediationItem,
    RemediationPlan,
    Signal,
)
from cases.readable import data_in_words
from cases.selectors import (
    account_enforcement_now,
    canned_reasons_active,
    case_records_current,
)
from cases.services import (
    case_act,
    case_assign,
    case_evidence_add,
    case_evidence_correct,
    case_note_add,
    case_note_correct,
    case_open,
    case_priority_set,
    case_transition,
    plan_item_verify,
    plan_items_verify,
)
from cases.services.approvals import may_decide, other_lead_exists
from cases.workflow import (
    ASSIGN_SELF_MIN_ROLE,
    CORRECT_OTHERS_MIN_ROLE,
    FOUR_EYES_ACTIONS,
    NOTE_MIN_ROLE,
    PLAN_OVERRIDE_MIN_ROLE,
    PLAN_VERIFY_MIN_ROLE,
    PRIORITY_MIN_ROLE,
    REASSIGN_MIN_ROLE,
    allowed_actions,
)
from config.times import duration_human, for_people
from core.actors import Actor
from core.admin import FastAdmin, is_lead, may_act, refusal_in_words, request_role
from core.errors import DomainError
from core.roles import role_allows
from notifications.admin.propagations import propagation_rows
from notifications.models import Notice, Propagation

from .decisions import restrictions_html
from .evidence_files import evidence_item_view, evidence_panel_context, evidence_upload_view
from .forms import (
    TRANSITION_FORMS,
    BulkAssignForm,
    BulkDismissForm,
    BulkSuspendForm,
    CaseOpenForm,
    EvidenceCorrectForm,
    EvidenceForm,
    NoteCorrectForm,
    NoteForm,
    PriorityForm,
    ReassignForm,
    TransitionForm,
    VerifyItemForm,
    VerifyItemsForm,
    add_refusal,
    errors_in_words,
)
from .holds import active_holds_of, holds_url
from .saved_views import ListParams, saved_view_remove, saved_view_save, saved_views_of
from .workload import UNASSIGNED, workload_view

DUE_SOON = timedelta(hours=24)
PANEL_LIMIT = 100  # signals, incidents, notices and evidence shown on a case page
EVENT_LIMIT = 500  # timeline events shown on a case page (newest first)

PRIORITY_ORDER = DbCase(
    *[When(priority=p, then=Value(rank)) for p, rank in PRIORITY_RANK.items()],
    default=Value(len(PRIORITY_RANK)),
    output_field=IntegerField(),
)

ACTION_LABELS = {action: form.label for action, form in TRANSITION_FORMS.items()}
# The key that brings each transition's form into view on the case page (keys.js; the keyboard
# section of docs/admin.md lists them with the page's other keys).
ACTION_KEYS = {
    "suspend": "s",
    "investigate": "i",
    "remediate": "r",
    "terminate": "t",
    "dismiss": "d",
}


class QueueFilter(admin.SimpleListFilter):
    """The work queues, each with its count of open cases (one aggregate query).

    With no queue chosen the list shows all open cases, most urgent first: that is what
    staff work from, and the partial index on open cases' deadlines serves it directly.
    """

    title = "queue"
    parameter_name = "queue"
    DEFAULT = "open"
    QUEUES = (
        ("mine", "My cases"),
        ("unassigned", "Unassigned"),
        ("overdue", "Overdue"),
        ("due_soon", "Due within 24 h"),
        ("open", "All open"),
    )

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        now = timezone.now()
        counts = Case.objects.filter(state__in=OPEN_STATES).aggregate(
            open=Count("pk"),
            mine=Count("pk", filter=Q(assignee_id=request.user.pk)),
            unassigned=Count("pk", filter=Q(assignee__isnull=True)),
            overdue=Count("pk", filter=Q(review_deadline__lt=now)),
            due_soon=Count(
                "pk", filter=Q(review_deadline__gte=now, review_deadline__lt=now + DUE_SOON)
            ),
        )
        queues = [(key, f"{label} ({counts[key]})") for key, label in self.QUEUES]
        return [*queues, ("all", "All cases, closed too")]

    def value(self) -> str:
        return str(super().value() or self.DEFAULT)

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        value = self.value()
        if value == "all":
            return queryset
        now = timezone.now()
        open_cases = queryset.filter(state__in=OPEN_STATES)
        if value == "mine":
            return open_cases.filter(assignee_id=request.user.pk)
        if value == "unassigned":
            return open_cases.filter(assignee__isnull=True)
        if value == "overdue":
            return open_cases.filter(review_deadline__lt=now)
        if value == "due_soon":
            return open_cases.filter(review_deadline__gte=now, review_deadline__lt=now + DUE_SOON)
        return open_cases


class StateFilter(admin.SimpleListFilter):
    """Open states with their counts; closed states without, since counting them means
    reading most of a table that only grows (a million closed cases is 75 ms per page)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        counts = dict(
            Case.objects.filter(state__in=OPEN_STATES)
            .order_by()
            .values_list("state")
            .annotate(n=Count("pk"))
            .values_list("state", "n")
        )
        return [
            (s.value, f"{s.label} ({counts.get(s.value, 0)})" if s in OPEN_STATES else s.label)
            for s in CaseState
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        return queryset.filter(state=self.value()) if self.value() else queryset


class PriorityFilter(admin.SimpleListFilter):
    title = "priority (count of open cases)"
    parameter_name = "priority"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        counts = dict(
            Case.objects.filter(state__in=OPEN_STATES)
            .order_by()
            .values_list("priority")
            .annotate(n=Count("pk"))
            .values_list("priority", "n")
        )
        return [(p.value, f"{p.label} ({counts.get(p.value, 0)})") for p in Priority]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        return queryset.filter(priority=self.value()) if self.value() else queryset


class AssigneeFilter(admin.SimpleListFilter):
    """The cases of one assignee (``?assignee=<user id>``), or of nobody (``?assignee=none``);
    with the queue filter it narrows a queue to that person (the workload page's links).

    Shown in the side bar only while it is in use (with *All* to clear it): listing every
    person would cost the list a query, and the workload page is where one is chosen.
    """

    title = "assignee"
    parameter_name = "assignee"
    USER_ID = re.compile(r"\d{1,18}")

    @classmethod
    def valid(cls, value: str) -> bool:
        return value == UNASSIGNED or cls.USER_ID.fullmatch(value) is not None

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        if value == UNASSIGNED:
            return [(UNASSIGNED, "Unassigned")]
        if value is None or not self.valid(value):
            return []
        username = (
            get_user_model()
            .objects.filter(pk=int(value))
            .values_list(get_user_model().USERNAME_FIELD, flat=True)
            .first()
        )
        return [(value, str(username) if username is not None else f"user #{value}")]

    def has_output(self) -> bool:
        return self.value() is not None

    def queryset(self, request: HttpRequest, queryset: QuerySet[Case]) -> QuerySet[Case]:
        value = self.value()
        if value is None:
            return queryset
        if value == UNASSIGNED:
            return queryset.filter(assignee__isnull=True)
        if not self.valid(value):
            return queryset.none()  # no one has such an id (as a state no case has)
        return queryset.filter(assignee_id=int(value))


ORDERING_PARAM = re.compile(r"-?\d{1,2}(\.-?\d{1,2}){0,15}")
SEARCH_MAX = 200  # characters of a search a saved view keeps


def _search_valid(term: str) -> bool:
    return len(term) <= SEARCH_MAX and term.isprintable()


# The parameters the case list takes from its query string, each with a check of its value:
# what a saved view of the list keeps (the page number, popups and the rest are left out).
LIST_PARAMS: ListParams = {
    QueueFilter.parameter_name: {*dict(QueueFilter.QUEUES), "all"}.__contains__,
    StateFilter.parameter_name: set(CaseState.values).__contains__,
    PriorityFilter.parameter_name: set(Priority.values).__contains__,
    AssigneeFilter.parameter_name: AssigneeFilter.valid,
    SEARCH_VAR: _search_valid,
    ORDER_VAR: lambda value: ORDERING_PARAM.fullmatch(value) is not None,
}


# Event data that names a row by its id only: people read the row's text instead.
EVENT_DATA_IDS = ("note", "corrects", "evidence", "item", "approval", "appeal")


def event_details(data: Any) -> str:
    """A timeline event's data in words (``key: value`` pairs; never raw JSON)."""
    if not isinstance(data, dict):
        return ""
    return data_in_words(
        {k: v for k, v in data.items() if not (k in EVENT_DATA_IDS and isinstance(v, int))}
    )


def deadline_html(case: Case, now: Any = None) -> str:
    """The review deadline, with overdue and due-soon cases standing out."""
    deadline = case.review_deadline
    if deadline is None:
        return "—"
    now = now or timezone.now()
    stamp = for_people(deadline)
    if case.state in OPEN_STATES and deadline < now:
        return format_html(
            '<span class="ts-overdue" title="{}">overdue by {}</span>',
            stamp,
            timesince(deadline, now),
        )
    if case.state in OPEN_STATES and deadline < now + DUE_SOON:
        return format_html(
            '<span class="ts-due-soon" title="{}">due in {}</span>', stamp, timeuntil(deadline, now)
        )
    return format_html('<span title="{}">{}</span>', stamp, stamp)


CASE_ID = re.compile(r"#?(\d{1,18})")


def case_search_q(term: str) -> Q:
    """What a search box term finds: a case by ``#id`` or ``id``; an account by its external
    id (or its start) or name; a contact e-mail address or domain (``acme.test``,
    ``@acme.test``); a partner the account comes through, by code."""
    term = term.strip()
    found = CASE_ID.fullmatch(term)
    if found is not None and term.startswith("#"):
        return Q(pk=int(found.group(1)))
    q = (
        Q(account__external_id__istartswith=term)
        | Q(account__name__icontains=term)
        | Q(account__in=Channel.objects.filter(partner__code__iexact=term).values("account_id"))
    )
    if found is not None:
        q |= Q(pk=int(found.group(1)))
    if "@" in term or "." in term:
        q |= Q(account__contacts__icontains=term)
    return q


def blocked_reason(case: Case, action: str, role: str | None) -> str | None:
    """Why ``action``, which the role may take from the case's state, cannot succeed now (for
    the button shown disabled with this reason), or None when it can."""
    if action == "remediate" and not role_allows(role, PLAN_OVERRIDE_MIN_ROLE):
        unverified = RemediationItem.objects.filter(
            plan__case=case, verified_at__isnull=True
        ).count()
        if unverified:
            return (
                f"{unverified} plan item(s) not verified yet: verify each below first "
                "(only a lead may override)."
            )
    if action in FOUR_EYES_ACTIONS:
        pending = (
            ApprovalRequest.objects.filter(case=case, action=action, state="pending")
            .filter(expires_at__gt=timezone.now())
            .values_list("pk", flat=True)
            .first()
        )
        if pending is not None:
            return f"Already proposed (approval request #{pending}): a lead decides it first."
    return None


# Conflicts the person can resolve in the form they filled in (what they typed is kept).
FORM_CONFLICTS = ("plan_not_verified", "violation_not_confirmed", "approval_pending")

# The hidden input of a form on the case page itself: its errors bring back the case page.
ON_CASE_PAGE = "_on_case_page"


@dataclass
class PostedForm:
    """A form of the case page that was posted and applied nothing: the page shows it again,
    open, bound to what was typed, with its errors (and why the case changed, if it did)."""

    form: Form
    action: str = ""  # the transition; "" for the verification of plan items
    stale: str | None = None


def transition_form_ids(action: str) -> str:
    """The ``auto_id`` of a transition's form on the case page: several forms share field
    names there (``reason``), so each form's ids carry its action."""
    return f"id_{action}_%s"


@admin.register(Case)
class CaseAdmin(FastAdmin):
    list_display = (
        "case_label",
        "account_label",
        "tier_label",
        "partners_label",
        "state_label",
        "priority_label",
        "age_label",
        "signals_label",
        "assignee_label",
        "deadline_label",
        "policies_label",
    )
    list_display_links = ("case_label",)
    list_filter = (QueueFilter, StateFilter, PriorityFilter, AssigneeFilter)
    search_fields = ("account__external_id",)  # the search itself: get_search_results
    search_help_text = (
        "#id or id; account external id (or its start) or name; contact e-mail or domain; "
        "partner code."
    )
    list_per_page = 50
    # Most urgent first: the earliest deadline (overdue cases lead), then priority; closed
    # cases (no deadline) last when they are shown (queue "all").
    ordering = (  # type: ignore[assignment]  # expressions are allowed; the stubs say str
        F("review_deadline").asc(nulls_last=True),
        PRIORITY_ORDER.asc(),
        "-id",
    )
    actions = ("bulk_suspend", "bulk_dismiss", "bulk_assign")
    fieldsets = (
        (None, {"fields": ("account", "summary", "policies")}),
        (
            "Workflow",
            {
                # State, priority, assignee and deadline are in the page's header.
                "fields": (
                    ("state_entered_at", "created_at"),
                    ("opened_by", "closed_at"),
                )
            },
        ),
        ("Findings", {"fields": ("findings", "violation_confirmed")}),
    )
    change_form_template = "admin/cases/case/change_form.html"

    class Media:
        css = {"all": ("cases/admin.css",)}

    # --- permissions ------------------------------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return may_act(request) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Fields are never edited here; changes are the actions on the case page.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        return super().changelist_view(
            request,
            {
                "title": "Cases, most urgent first",
                "ts_saved_views": saved_views_of(self, request, LIST_PARAMS),
                "ts_saved_view_save_url": reverse(f"{name}_saved_view_save"),
                "ts_current_query": request.GET.urlencode(),
                "ts_workload_url": reverse(f"{name}_workload"),
                **(extra_context or {}),
            },
        )

    # --- saved views and the workload (cases.admin.saved_views, cases.admin.workload) -------

    def saved_view_save_view(self, request: HttpRequest) -> HttpResponse:
        return saved_view_save(self, request, LIST_PARAMS)

    def saved_view_delete_view(self, request: HttpRequest, view_id: int) -> HttpResponse:
        return saved_view_remove(self, request, view_id)

    def workload_page(self, request: HttpRequest) -> HttpResponse:
        return workload_view(self, request)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        if not may_act(request):
            return {}
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- the list ---------------------------------------------------------------------------

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Case], search_term: str
    ) -> tuple[QuerySet[Case], bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(case_search_q(search_term)), False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        return (
            super()
            .get_queryset(request)
            .select_related("account", "assignee")
            .prefetch_related(
                Prefetch("policies", queryset=PolicyClause.objects.only("id", "code")),
                Prefetch(
                    "account__channels",
                    queryset=Channel.objects.select_related("partner").order_by("partner__code"),
                ),
            )
            # The signals behind the case: its incidents' counts, summed (one subquery a row).
            .annotate(
                signal_total=Subquery(
                    Incident.objects.filter(case=OuterRef("pk"))
                    .order_by()
                    .values("case")
                    .annotate(n=Sum("signal_count"))
                    .values("n")[:1],
                    output_field=IntegerField(),
                )
            )
        )

    @admin.display(description="tier", ordering="account__tier")
    def tier_label(self, obj: Case) -> str:
        return obj.account.get_tier_display()

    @admin.display(description="partners")
    def partners_label(self, obj: Case) -> str:
        codes = [c.partner.code for c in obj.account.channels.all()]
        if obj.account.direct:
            codes.insert(0, "direct")
        return ", ".join(codes) or "—"

    @admin.display(description="age", ordering="created_at")
    def age_label(self, obj: Case) -> str:
        return format_html(
            '<span title="opened {}">{}</span>',
            for_people(obj.created_at),
            duration_human(timezone.now() - obj.created_at),
        )

    @admin.display(description="signals", ordering="signal_total")
    def signals_label(self, obj: Case) -> int:
        return int(getattr(obj, "signal_total", None) or 0)

    @admin.display(description="case", ordering="id")
    def case_label(self, obj: Case) -> str:
        return f"#{obj.pk}"

    @admin.display(description="account", ordering="account__external_id")
    def account_label(self, obj: Case) -> str:
        url = reverse("admin:accounts_account_change", args=[obj.account_id])
        name = obj.account.name
        if name and name != obj.account.external_id:
            return format_html(
                '<a href="{}">{}</a> <span class="ts-muted">{}</span>',
                url,
                obj.account.external_id,
                name,
            )
        return format_html('<a href="{}">{}</a>', url, obj.account.external_id)

    @admin.display(description="state", ordering="state")
    def state_label(self, obj: Case) -> str:
        return format_html(
            '<span class="ts-state ts-state-{}">{}</span>', obj.state, obj.get_state_display()
        )

    @admin.display(description="priority", ordering=PRIORITY_ORDER)
    def priority_label(self, obj: Case) -> str:
        return format_html(
            '<span class="ts-priority-{}">{}</span>', obj.priority, obj.get_priority_display()
        )

    @admin.display(description="assignee", ordering="assignee__username")
    def assignee_label(self, obj: Case) -> str:
        return obj.assignee.get_username() if obj.assignee else "—"

    @admin.display(description="deadline", ordering="review_deadline")
    def deadline_label(self, obj: Case) -> str:
        return deadline_html(obj)

    @admin.display(description="policies")
    def policies_label(self, obj: Case) -> str:
        return ", ".join(sorted(p.code for p in obj.policies.all())) or "—"

    # --- the case page ----------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        custom = [
            path("workload/", wrap(self.workload_page), name=f"{name}_workload"),
            path("saved-views/", wrap(self.saved_view_save_view), name=f"{name}_saved_view_save"),
            path(
                "saved-views/<int:view_id>/delete/",
                wrap(self.saved_view_delete_view),
                name=f"{name}_saved_view_delete",
            ),
            path(
                "<path:object_id>/transition/<str:action>/",
                wrap(self.transition_view),
                name=f"{name}_transition",
            ),
            path("<path:object_id>/assign/", wrap(self.assign_view), name=f"{name}_assign"),
            path("<path:object_id>/priority/", wrap(self.priority_view), name=f"{name}_priority"),
            path("<path:object_id>/note/", wrap(self.note_view), name=f"{name}_note"),
            path("<path:object_id>/evidence/", wrap(self.evidence_view), name=f"{name}_evidence"),
            path(
                "<path:object_id>/evidence-files/",
                wrap(self.evidence_upload),
                name=f"{name}_evidence_upload",
            ),
            path(
                "<path:object_id>/evidence-files/<int:item_id>/",
                wrap(self.evidence_item),
                name=f"{name}_evidence_item",
            ),
            path(
                "<path:object_id>/notes/<int:note_id>/correct/",
                wrap(self.note_correct_view),
                name=f"{name}_note_correct",
            ),
            path(
                "<path:object_id>/evidence/<int:evidence_id>/correct/",
                wrap(self.evidence_correct_view),
                name=f"{name}_evidence_correct",
            ),
            path(
                "<path:object_id>/items/<int:item_id>/verify/",
                wrap(self.verify_item_view),
                name=f"{name}_verify_item",
            ),
            path(
                "<path:object_id>/items/verify/",
                wrap(self.verify_items_view),
                name=f"{name}_verify_items",
            ),
        ]
        return custom + super().get_urls()

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
            context.update(self.case_panels(request, obj, posted=context.get("ts_posted")))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def case_panels(
        self, request: HttpRequest, case: Case, posted: PostedForm | None = None
    ) -> dict[str, Any]:
        """Everything the case page shows besides the case's own fields, in fixed queries.

        ``posted`` is a form of the page that was posted and applied nothing: it is shown
        again as it was filled in.
        """
        role = request_role(request)
        account = case.account
        incidents = list(
            case.incidents.select_related("rule", "policy").order_by("-last_seen")[:PANEL_LIMIT]
        )
        signals_qs = Signal.objects.filter(incidents__case=case)
        signals = list(
            signals_qs.select_related("policy")
            .order_by("-occurred_at", "-id")
            .distinct()[:PANEL_LIMIT]
        )
        plan = RemediationPlan.objects.filter(case=case).prefetch_related("items").first()
        # A plan closed with unverified items says so, with the lead and their reason.
        plan_override = None
        if plan is not None and plan.verified_at is not None:
            plan_override = (
                CaseEvent.objects.filter(
                    case=case, action=EventAction.REMEDIATE, data__has_key="override_reason"
                )
                .order_by("-seq")
                .first()
            )
        notices = list(
            Notice.objects.filter(case=case)
            .prefetch_related("attempts_log")
            .order_by("-created_at")[:PANEL_LIMIT]
        )
        events = list(CaseEvent.objects.filter(case=case).order_by("-seq")[:EVENT_LIMIT])
        for event in events:
            event.details = event_details(event.data)  # shown on the timeline
        enforcement = account_enforcement_now(account)
        decisions = list(
            Decision.objects.filter(case=case)
            .prefetch_related("restrictions")
            .order_by("-decided_at", "-id")[:PANEL_LIMIT]
        )
        actor = Actor.for_user(request.user)
        approvals: list[Any] = list(
            ApprovalRequest.objects.filter(case=case).order_by("-proposed_at", "-id")[:PANEL_LIMIT]
        )
        for approval in approvals:
            approval.can_decide = may_decide(approval, actor)  # shown with its buttons
        appeals = list(
            Appeal.objects.filter(case=case)
            .select_related("decision", "outcome")
            .order_by("-filed_at", "-id")[:PANEL_LIMIT]
        )
        has_contact = any(str(c).strip() for c in (account.contacts or []))
        is_open = case.state in OPEN_STATES
        can_reassign = is_open and role_allows(role, REASSIGN_MIN_ROLE)
        plan_items = list(plan.items.all()) if plan else []
        can_verify = case.state == CaseState.INVESTIGATED and role_allows(
            role, PLAN_VERIFY_MIN_ROLE
        )
        return {
            "case": case,
            "account": account,
            "channels": ["direct"] * account.direct + [p.code for p in account.partners.all()],
            "incidents": incidents,
            "signals": signals,
            "signal_total": signals_qs.distinct().count(),
            "plan": plan,
            "plan_items": plan_items,
            "notices": notices,
            "enforcement": enforcement,
            "restrictions_html": restrictions_html(enforcement["restrictions"]),
            "decisions": decisions,
            "propagations": propagation_rows(
                Propagation.objects.filter(case=case), now=timezone.now()
            ),
            "approvals": approvals,
            "pending_approval": next((a for a in approvals if a.state_now == "pending"), None),
            "appeals": appeals,
            "unsent_decisions": [] if has_contact else decisions,
            "events": events,
            "event_total": events[0].seq if events else 0,
            # Current versions, each with the versions it corrected (its history).
            "evidence": case_records_current(case=case, model=EvidenceReference, limit=PANEL_LIMIT),
            "notes": case_records_current(case=case, model=CaseNote, limit=PANEL_LIMIT),
            "correct_any": role_allows(role, CORRECT_OTHERS_MIN_ROLE),
            "deadline_html": deadline_html(case),
            # What the role may do from this state, each with its form in place or why it
            # cannot succeed now.
            "transition_panels": self._transition_panels(request, case, role, posted),
            "plan_override": plan_override,
            "can_note": role_allows(role, NOTE_MIN_ROLE),
            "can_take": is_open
            and case.assignee_id is None
            and role_allows(role, ASSIGN_SELF_MIN_ROLE),
            "reassign_form": ReassignForm(initial={"assignee": case.assignee_id})
            if can_reassign
            else None,
            "priority_form": PriorityForm(initial={"priority": case.priority})
            if is_open and role_allows(role, PRIORITY_MIN_ROLE)
            else None,
            "can_verify": can_verify,
            **self._verify_panel(case, plan_items, can_verify, posted),
            "note_form": NoteForm(),
            "evidence_form": EvidenceForm(),
            **evidence_panel_context(case, role, PANEL_LIMIT),
            # Active legal holds on the case or its account; the holds page lists them all.
            "holds": active_holds_of(case),
            "holds_url": holds_url(q=account.external_id),
            "place_hold_url": reverse("admin:cases_legalhold_add") + f"?case={case.pk}"
            if is_lead(request)
            else "",
        }

    def _transition_panels(
        self, request: HttpRequest, case: Case, role: str | None, posted: PostedForm | None
    ) -> list[dict[str, Any]]:
        """One panel per action the role may take from the case's state: its form (the
        separate page's, posting to the same URL), or only why it cannot succeed now. A form
        posted from here that applied nothing comes back open and filled in, also when the
        case moved on and the action is no longer possible (to copy from, not to submit)."""
        posted_action = posted.action if posted is not None else ""
        actions = allowed_actions(case.state, role)
        panels = []
        canned: list[CannedReason] | None = None  # read once, for every form that offers them
        for action in actions:
            blocked = blocked_reason(case, action, role)
            form: Form | None = None
            if posted is not None and action == posted_action:
                form = posted.form
            elif blocked is None:
                canned = canned_reasons_active() if canned is None else canned
                form = TRANSITION_FORMS[action](
                    initial=self._initial(case, action),
                    role=role,
                    auto_id=transition_form_ids(action),
                    canned=canned,
                )
            panels.append(self._transition_panel(request, action, form, blocked, posted))
        if posted is not None and posted_action and posted_action not in actions:
            blocked = f"You may not {posted_action} a case that is {case.state}; your text is kept."
            panels.append(
                self._transition_panel(request, posted_action, posted.form, blocked, posted)
            )
        return panels

    @staticmethod
    def _transition_panel(
        request: HttpRequest,
        action: str,
        form: Form | None,
        blocked: str | None,
        posted: PostedForm | None,
    ) -> dict[str, Any]:
        mine = posted is not None and posted.action == action
        four_eyes = action in FOUR_EYES_ACTIONS
        return {
            "action": action,
            "label": ACTION_LABELS[action],
            # Only a form that can be submitted gets a key: none for a disabled action.
            "key": ACTION_KEYS.get(action, "") if form is not None and blocked is None else "",
            "form": form,
            "blocked": blocked,
            "open": mine,
            "stale": posted.stale if mine and posted is not None else None,
            "errors": errors_in_words(form) if mine and form is not None else [],
            "four_eyes": four_eyes,
            "other_lead": four_eyes and form is not None and other_lead_exists(request.user),
        }

    @staticmethod
    def _verify_panel(
        case: Case, items: list[RemediationItem], can_verify: bool, posted: PostedForm | None
    ) -> dict[str, Any]:
        """The plan's one form that verifies the ticked items: for investigators and leads
        while the case is investigated and an item is unverified; a posted one that applied
        nothing is shown again with its ticks and note, even when it can no longer succeed."""
        unverified = [item for item in items if item.verified_at is None]
        form: Form | None = None
        if posted is not None and not posted.action:
            form = posted.form
        elif can_verify and unverified:
            form = VerifyItemsForm(items=unverified, auto_id="id_verify_%s")
        if form is None:
            return {"verify_form": None}
        mine = posted is not None and posted.form is form
        return {
            "verify_form": form,
            "verify_ticked": form.ticked() if isinstance(form, VerifyItemsForm) else set(),
            "verify_errors": errors_in_words(form) if mine else [],
            "verify_blocked": None
            if can_verify and unverified
            else f"No plan item of this case can be verified now (it is {case.state}).",
        }

    # --- actions on one case ----------------------------------------------------------------

    def _case_for(self, request: HttpRequest, object_id: str) -> Case:
        case = self.get_object(request, unquote(object_id))
        if case is None:
            raise Http404("No such case.")
        if not self.has_view_permission(request, case):
            raise PermissionDenied
        return case

    @staticmethod
    def _actor(request: HttpRequest) -> Actor:
        """The acting user; auditors and staff without a role are refused outright."""
        if not may_act(request):
            raise PermissionDenied
        return Actor.for_user(request.user)

    def _case_url(self, case: Case | int) -> str:
        pk = case.pk if isinstance(case, Case) else case
        return reverse("admin:cases_case_change", args=[pk])

    @staticmethod
    def _error(request: HttpRequest, exc: DomainError) -> None:
        if isinstance(exc, StaleState):
            messages.error(request, f"{exc.detail} Nothing was applied.")
        else:
            messages.error(request, f"{exc.title}: {refusal_in_words(exc)}")

    def _page(
        self, request: HttpRequest, template: str, title: str, **context: Any
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": title,
                **context,
            },
        )

    def _case_page(self, request: HttpRequest, case: Case, posted: PostedForm) -> HttpResponse:
        """The case page again, after a POST of one of its forms that applied nothing: the
        form open and bound to what was typed, with its errors in words."""
        page = copy.copy(request)
        page.method = "GET"  # shown, not saved: the page itself has nothing to save
        return self.change_view(page, str(case.pk), extra_context={"ts_posted": posted})

    def transition_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """A transition's form: on its own page, or posted from its panel on the case page
        (``ON_CASE_PAGE``), where a refusal then brings back the case page with the form
        filled in. Either way a success goes back to the case page with the message."""
        case = self._case_for(request, object_id)
        actor = self._actor(request)
        form_class = TRANSITION_FORMS.get(action)
        if form_class is None:
            raise Http404("No such action.")
        back = HttpResponseRedirect(self._case_url(case))
        stale: str | None = None
        on_page = request.method == "POST" and request.POST.get(ON_CASE_PAGE) == "1"
        ids = {"auto_id": transition_form_ids(action)} if on_page else {}
        if request.method == "POST":
            expected = request.POST.get("expected_state") or None
            if expected is not None and expected != case.state:
                return self._stale_form(
                    request, case, action, actor, form_class, expected, on_page=on_page
                )
            if action not in allowed_actions(case.state, actor.role):
                messages.error(
                    request,
                    f"Refused: your role ({actor.role}) may not {action} a case that is "
                    f"{case.state}. Nothing was applied.",
                )
                return back
            form = form_class(request.POST, role=actor.role, **ids)
            if form.is_valid():
                try:
                    updated = case_act(
                        case=case.pk,
                        command=form.to_command(),
                        actor=actor,
                        expected_state=form.cleaned_data["expected_state"],
                    )
                except StaleState:
                    case.refresh_from_db()
                    seen = form.cleaned_data["expected_state"]
                    return self._stale_form(
                        request, case, action, actor, form_class, seen, on_page=on_page
                    )
                except DomainError as exc:
                    if on_page or exc.status == 422 or exc.code in FORM_CONFLICTS:
                        add_refusal(form, exc)
                    else:
                        self._error(request, exc)
                        return back
                else:
                    if isinstance(updated, ApprovalRequest):
                        messages.success(
                            request,
                            f"Case #{case.pk}: {action} proposed (approval request "
                            f"#{updated.pk}). A different lead must approve it before "
                            f"{for_people(updated.expires_at)}; until then the case stays "
                            f"{case.state} and the suspension stays in force.",
                        )
                    else:
                        messages.success(
                            request,
                            f"Case #{updated.pk}: {action} done; it is now {updated.state}.",
                        )
                    return back
            if on_page:
                return self._case_page(request, case, PostedForm(form=form, action=action))
        else:
            if action not in allowed_actions(case.state, actor.role):
                messages.error(request, f"You may not {action} a case that is {case.state}.")
                return back
            blocked = blocked_reason(case, action, actor.role)
            if blocked is not None:
                messages.error(request, f"{ACTION_LABELS[action]} is not possible now: {blocked}")
                return back
            form = form_class(initial=self._initial(case, action), role=actor.role)
        return self._transition_page(request, case, action, form, stale)

    @staticmethod
    def _initial(case: Case, action: str) -> dict[str, Any]:
        initial: dict[str, Any] = {"expected_state": case.state}
        if action == "suspend":
            # The policies the case is about, which a suspension usually cites.
            initial["policies"] = list(case.policies.all())
        return initial

    def _stale_form(
        self,
        request: HttpRequest,
        case: Case,
        action: str,
        actor: Actor,
        form_class: type[TransitionForm],
        expected: str,
        *,
        on_page: bool = False,
    ) -> HttpResponse:
        """The case changed underneath: nothing is applied, and the form comes back with what
        was typed, now against the state the case is in (submitting again acts on that state),
        or read-only to copy from when the action is no longer possible; on the case page
        when it was posted from there."""
        stale = f"{StaleState(expected=expected, actual=case.state).detail} Nothing was applied."
        data = request.POST.copy()
        data["expected_state"] = case.state
        if on_page:
            form = form_class(data, role=actor.role, auto_id=transition_form_ids(action))
            return self._case_page(request, case, PostedForm(form=form, action=action, stale=stale))
        form = form_class(data, role=actor.role)
        return self._transition_page(request, case, action, form, stale)

    def _transition_page(
        self,
        request: HttpRequest,
        case: Case,
        action: str,
        form: TransitionForm,
        stale: str | None,
    ) -> HttpResponse:
        role = request_role(request)
        possible = action in allowed_actions(case.state, role)
        blocked = blocked_reason(case, action, role) if possible else None
        if not possible:
            blocked = f"You may not {action} a case that is {case.state}; your text is kept."
        return self._page(
            request,
            "admin/cases/case/transition_form.html",
            f"{ACTION_LABELS[action]}: case #{case.pk} ({case.account.external_id})",
            case=case,
            form=form,
            action=action,
            action_label=ACTION_LABELS[action],
            original=case,
            stale=stale,
            blocked=blocked,
            four_eyes=action in FOUR_EYES_ACTIONS,
            other_lead=action in FOUR_EYES_ACTIONS and other_lead_exists(request.user),
        )

    def _post_action(
        self,
        request: HttpRequest,
        object_id: str,
        form_class: type[Form],
        apply: Callable[[Case, Actor, dict[str, Any]], str],
    ) -> HttpResponse:
        """A small form posted from the case page: apply it through a service, then go back."""
        case = self._case_for(request, object_id)
        actor = self._actor(request)
        back = HttpResponseRedirect(self._case_url(case))
        if request.method != "POST":
            return back
        form = form_class(request.POST)
        if not form.is_valid():
            errors = "; ".join(
                f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items()
            )
            messages.error(request, f"Nothing was applied: {errors}")
            return back
        try:
            done = apply(case, actor, form.cleaned_data)
        except DomainError as exc:
            self._error(request, exc)
        else:
            messages.success(request, done)
        return back

    def assign_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method == "POST" and "take" in request.POST:

            def take(case: Case, actor: Actor, data: dict[str, Any]) -> str:
                case_assign(case=case.pk, assignee=request.user, actor=actor)
                return f"You took case #{case.pk}."

            return self._post_action(request, object_id, Form, take)

        def reassign(case: Case, actor: Actor, data: dict[str, Any]) -> str:
            updated = case_assign(
                case=case.pk, assignee=data["assignee"], actor=actor, reason=data["reason"]
            )
            who = updated.assignee.get_username() if updated.assignee else "nobody"
            return f"Case #{case.pk} is assigned to {who}."

        return self._post_action(request, object_id, ReassignForm, reassign)

    def priority_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def apply(case: Case, actor: Actor, data: dict[str, Any]) -> str:
            updated = case_priority_set(
                case=case.pk, priority=data["priority"], actor=actor, reason=data["reason"]
            )
            return f"Case #{case.pk} has priority {updated.priority}."

        return self._post_action(request, object_id, PriorityForm, apply)

    def note_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def apply(case: Case, actor: Actor, data: dict[str, Any]) -> str:
            case_note_add(case=case.pk, body=data["body"], actor=actor)
            return "Note added."

        return self._post_action(request, object_id, NoteForm, apply)

    def evidence_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        def apply(case: Case, actor: Actor, data: dict[str, Any]) -> str:
            case_evidence_add(
                case=case.pk,
                reference=data["reference"],
                description=data["description"],
                actor=actor,
            )
            return "Evidence added."

        return self._post_action(request, object_id, EvidenceForm, apply)

    def evidence_upload(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return evidence_upload_view(self, request, object_id)

    def evidence_item(
        self, request: HttpRequest, object_id: str, item_id: int
    ) -> HttpResponse | StreamingHttpResponse:
        return evidence_item_view(self, request, object_id, item_id)

    def note_correct_view(self, request: HttpRequest, object_id: str, note_id: int) -> HttpResponse:
        def apply(case: Case, actor: Actor, data: dict[str, Any]) -> str:
            if not CaseNote.objects.filter(case=case, pk=note_id).exists():
                raise Http404("No such note on this case.")
            new = case_note_correct(
                note=note_id, body=data["body"], reason=data["reason"], actor=actor
            )
            return f"Note {note_id} corrected by note {new.pk}."

        return self._post_action(request, object_id, NoteCorrectForm, apply)

    def evidence_correct_view(
        self, request: HttpRequest, object_id: str, evidence_id: int
    ) -> HttpResponse:
        def apply(case: Case, actor: Actor, data: dict[str, Any]) -> str:
            if not EvidenceReference.objects.filter(case=case, pk=evidence_id).exists():
                raise Http404("No such evidence reference on this case.")
            new = case_evidence_correct(
                evidence=evidence_id,
                reference=data["reference"],
                description=data["description"],
                reason=data["reason"],
                actor=actor,
            )
            return f"Evidence reference {evidence_id} corrected by {new.pk}."

        return self._post_action(request, object_id, EvidenceCorrectForm, apply)

    def verify_item_view(self, request: HttpRequest, object_id: str, item_id: int) -> HttpResponse:
        def apply(case: Case, actor: Actor, data: dict[str, Any]) -> str:
            if not RemediationPlan.objects.filter(case=case, items__pk=item_id).exists():
                raise Http404("No such item on this case.")
            item = plan_item_verify(item=item_id, actor=actor, note=data["note"])
            return f"Verified: {item.description[:80]}"

        return self._post_action(request, object_id, VerifyItemForm, apply)

    def verify_items_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Verify the ticked plan items in one POST, with one note (``plan_items_verify``:
        one transaction, so a refusal verifies none), then back to the case page. When nothing
        was verified, the case page comes back with the ticks and the note kept."""
        case = self._case_for(request, object_id)
        actor = self._actor(request)
        back = HttpResponseRedirect(self._case_url(case))
        if request.method != "POST":
            return back
        if not role_allows(actor.role, PLAN_VERIFY_MIN_ROLE):
            messages.error(
                request,
                f"Refused: your role ({actor.role}) may not verify remediation items. "
                "Nothing was applied.",
            )
            return back
        items = list(RemediationItem.objects.filter(plan__case=case).order_by("pk"))
        form = VerifyItemsForm(request.POST, items=items, auto_id="id_verify_%s")
        if form.is_valid():
            ticked = set(form.cleaned_data["items"])
            already = [i for i in items if i.pk in ticked and i.verified_at is not None]
            pending = [i for i in items if i.pk in ticked and i.verified_at is None]
            try:
                done = (
                    plan_items_verify(items=pending, actor=actor, note=form.cleaned_data["note"])
                    if pending
                    else []
                )
            except DomainError as exc:
                add_refusal(form, exc, prefix="Nothing was verified: ")
            else:
                if done:
                    names = "; ".join(item.description[:80] for item in done)
                    messages.success(request, f"Verified {len(done)} plan item(s): {names}")
                if already:
                    names = "; ".join(
                        f"{item.description[:80]} (by {item.verified_by})" for item in already
                    )
                    messages.info(request, f"Already verified, left as they were: {names}")
                return back
        return self._case_page(request, case, PostedForm(form=form))

    # --- opening a case ---------------------------------------------------------------------

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        actor = self._actor(request)
        open_case: int | None = None
        if request.method == "POST":
            form = CaseOpenForm(request.POST)
            if form.is_valid():
                try:
                    case = case_open(
                        account=form.cleaned_data["account"],
                        summary=form.cleaned_data["summary"],
                        priority=form.cleaned_data["priority"],
                        policies=[p.code for p in form.cleaned_data["policies"]],
                        actor=actor,
                    )
                except CaseAlreadyOpen as exc:
                    open_case = exc.fields.get("case_id")
                    form.add_error(None, exc.detail)
                except DomainError as exc:
                    add_refusal(form, exc)
                else:
                    messages.success(request, f"Case #{case.pk} opened.")
                    return HttpResponseRedirect(self._case_url(case))
        else:
            form = CaseOpenForm()
        return self._page(
            request,
            "admin/cases/case/open_form.html",
            "Open a case",
            form=form,
            open_case_url=self._case_url(open_case) if open_case is not None else None,
            open_case=open_case,
        )

    # --- bulk actions -----------------------------------------------------------------------

    def _bulk(
        self,
        request: HttpRequest,
        queryset: QuerySet[Case],
        *,
        name: str,
        verb: str,
        form: Form,
        apply: Callable[[Case, Actor, dict[str, Any]], Any],
    ) -> TemplateResponse | None:
        """Apply one action, with one shared input, to each selected case through a service.

        Each case is its own transaction: one refusal does not undo the others, and the
        message names every case that was refused, with the reason.
        """
        actor = self._actor(request)
        if "apply" in request.POST and form.is_valid():
            done: list[Case] = []
            refused: list[tuple[Case, str]] = []
            for case in queryset.order_by("pk"):
                try:
                    apply(case, actor, form.cleaned_data)
                except DomainError as exc:
                    refused.append((case, refusal_in_words(exc)))
                else:
                    done.append(case)
            if done:
                names = ", ".join(f"#{c.pk} ({c.account.external_id})" for c in done)
                messages.success(request, f"{verb} {len(done)} case(s): {names}.")
            if refused:
                reasons = "; ".join(
                    f"#{c.pk} ({c.account.external_id}): {why}" for c, why in refused
                )
                messages.error(request, f"Refused {len(refused)} case(s): {reasons}")
            return None
        return self._page(
            request,
            "admin/cases/case/bulk_action.html",
            f"{name.title()} {queryset.count()} case(s)",
            form=form,
            action=f"bulk_{name}",
            cases=list(queryset.order_by("pk")),
            action_checkbox_name=ACTION_CHECKBOX_NAME,
        )

    @admin.action(description="Suspend selected cases (one shared reason)")
    def bulk_suspend(self, request: HttpRequest, queryset: QuerySet[Case]) -> Any:
        form = BulkSuspendForm(request.POST if "apply" in request.POST else None)

        def apply(case: Case, actor: Actor, data: dict[str, Any]) -> Any:
            return case_transition(case=case.pk, command=form.to_command(), actor=actor)

        return self._bulk(
            request, queryset, name="suspend", verb="Suspended", form=form, apply=apply
        )

    @admin.action(description="Dismiss selected cases (one shared reason)")
    def bulk_dismiss(self, request: HttpRequest, queryset: QuerySet[Case]) -> Any:
        form = BulkDismissForm(request.POST if "apply" in request.POST else None)

        def apply(case: Case, actor: Actor, data: dict[str, Any]) -> Any:
            return case_transition(case=case.pk, command=form.to_command(), actor=actor)

        return self._bulk(
            request, queryset, name="dismiss", verb="Dismissed", form=form, apply=apply
        )

    @admin.action(description="Assign selected cases")
    def bulk_assign(self, request: HttpRequest, queryset: QuerySet[Case]) -> Any:
        def apply(case: Case, actor: Actor, data: dict[str, Any]) -> Any:
            return case_assign(
                case=case.pk, assignee=data["assignee"], actor=actor, reason=data["reason"]
            )

        form = BulkAssignForm(
            request.POST if "apply" in request.POST else None,
            user=request.user,
            lead=is_lead(request),
        )
        return self._bulk(request, queryset, name="assign", verb="Assigned", form=form, apply=apply)
