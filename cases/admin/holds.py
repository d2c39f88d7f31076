"""Legal holds in the admin: the list of every hold, active and released, and a hold's page.

Whoever may read cases reads the holds (auditors included): the page asks for the case view
permission, so holds need no permission (nor migration) of their own. Only leads place a hold
(``legal_hold_place``) and release one (``legal_hold_release``, with a reason); nobody edits a
placed hold or deletes one: a released hold stays on the record.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from core.actors import Actor
from core.admin import FastAdmin, is_lead, refusal_in_words
from core.errors import DomainError

from ..models import Case, LegalHold
from ..services.holds import legal_hold_place, legal_hold_release
from .forms import LegalHoldPlaceForm, LegalHoldReleaseForm
from .retention import retention_view

# The services name their inputs; a lead reads these words instead.
INPUT_WORDS = {
    "account": "the account or case",
    "case": "the case",
    "reason": "the reason",
    "legal_reference": "the legal reference",
    "review_date": "the review date",
}


def hold_refusal(exc: DomainError) -> str:
    """A service's refusal as a lead reads it: no internal input names."""
    if exc.fields.get("field") == "review_date":
        return "The review date must be today or later."
    if exc.fields.get("field") == "account":
        return "A hold is on an account or on a case: name exactly one of them."
    return refusal_in_words(exc, INPUT_WORDS)


def hold_target(hold: LegalHold) -> SafeString:
    """What the hold is on, linked: the account, or the case (with its account)."""
    if hold.case is not None:
        url = reverse("admin:cases_case_change", args=[hold.case.pk])
        return format_html(
            '<a href="{}">case #{}</a> ({})', url, hold.case.pk, hold.case.account.external_id
        )
    assert hold.account is not None  # noqa: S101  # on an account or a case (a constraint)
    url = reverse("admin:accounts_account_change", args=[hold.account.pk])
    return format_html('<a href="{}">account {}</a>', url, hold.account.external_id)


def holds_url(**query: Any) -> str:
    """The holds page, searched or filtered (``q=...``, ``status=active``)."""
    url = reverse("admin:cases_legalhold_changelist")
    return f"{url}?{urlencode(query)}" if query else url


def active_holds_of(case: Case) -> list[LegalHold]:
    """The active holds that cover a case: on the case itself and on its account."""
    return list(
        LegalHold.objects.filter(
            Q(case=case.pk) | Q(account=case.account_id), released_at__isnull=True
        ).order_by("review_date", "id")
    )


class HoldStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("released", "Released")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[LegalHold]) -> QuerySet[LegalHold]:
        if self.value() == "active":
            return queryset.filter(released_at__isnull=True)
        if self.value() == "released":
            return queryset.filter(released_at__isnull=False)
        return queryset


@admin.register(LegalHold)
class LegalHoldAdmin(FastAdmin):
    list_display = (
        "hold_label",
        "target",
        "legal_reference",
        "reason_short",
        "review_label",
        "placed",
        "released",
        "status",
    )
    list_display_links = ("hold_label",)
    list_filter = (HoldStatusFilter,)
    list_select_related = ("account", "case__account")
    search_fields = (
        "legal_reference",
        "account__name",
        "=account__external_id",
        "case__account__name",
        "=case__account__external_id",
        "=case__id",
    )
    search_help_text = (
        "Legal reference or account name (or part of them), an account's exact external id, "
        "or a case number (which finds the holds on that case)."
    )
    ordering = ("-placed_at", "-id")
    actions = None
    fields = (
        "status",
        "target",
        "legal_reference",
        "reason",
        "review_label",
        "placed_by",
        "placed_at",
        "released_by",
        "released_at",
        "release_reason",
    )
    readonly_fields = fields
    change_form_template = "admin/cases/legalhold/change_form.html"
    change_list_template = "admin/cases/legalhold/change_list.html"

    class Media:
        css = {"all": ("cases/admin.css",)}

    # --- who may do what: read with the cases, place and release as a lead ------------------

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("cases.view_case"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_lead(request) and self.has_view_permission(request)

    def may_release(self, request: HttpRequest) -> bool:
        return is_lead(request) and self.has_view_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a placed hold's content never changes; a release has its own page

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # released holds stay on the record

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[LegalHold], search_term: str
    ) -> tuple[QuerySet[LegalHold], bool]:
        """A number is a case (or part of a legal reference), not part of an account's name."""
        term = search_term.strip()
        if term.isdigit():
            found = Q(case_id=int(term)) | Q(legal_reference__icontains=term)
            return queryset.filter(found), False
        return super().get_search_results(request, queryset, search_term)

    def get_list_display(self, request: HttpRequest) -> Any:
        shown = super().get_list_display(request)
        return (*shown, "release_link") if self.may_release(request) else shown

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        return super().changelist_view(
            request, {"title": "Legal holds, the newest first", **(extra_context or {})}
        )

    # --- columns ----------------------------------------------------------------------------

    @admin.display(description="hold", ordering="id")
    def hold_label(self, obj: LegalHold) -> str:
        return f"Hold #{obj.pk}"

    @admin.display(description="on")
    def target(self, obj: LegalHold) -> SafeString:
        return hold_target(obj)

    @admin.display(description="reason")
    def reason_short(self, obj: LegalHold) -> str:
        return Truncator(obj.reason).chars(80)

    @admin.display(description="review by", ordering="review_date")
    def review_label(self, obj: LegalHold) -> SafeString:
        text = f"{obj.review_date:%Y-%m-%d}"
        if obj.is_active and obj.review_date < timezone.localdate():
            return format_html("<span class='ts-overdue'>{} (review overdue)</span>", text)
        return format_html("{}", text)

    @admin.display(description="placed", ordering="placed_at")
    def placed(self, obj: LegalHold) -> str:
        return f"{obj.placed_at:%Y-%m-%d %H:%M} by {obj.placed_by}"

    @admin.display(description="released", ordering="released_at")
    def released(self, obj: LegalHold) -> str:
        if obj.released_at is None:
            return "—"
        reason = Truncator(obj.release_reason).chars(80)
        return f"{obj.released_at:%Y-%m-%d %H:%M} by {obj.released_by}: {reason}"

    @admin.display(description="status")
    def status(self, obj: LegalHold) -> SafeString:
        if obj.is_active:
            return format_html("<strong class='ts-hold-active'>{}</strong>", "active")
        return format_html("{}", "released")

    @admin.display(description="")
    def release_link(self, obj: LegalHold) -> SafeString | str:
        if not obj.is_active:
            return ""
        url = reverse("admin:cases_legalhold_release", args=[obj.pk])
        return format_html('<a class="button ts-hold-release" href="{}">Release</a>', url)

    # --- the hold's page, placing and releasing ---------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("retention/", wrap(self.retention), name=f"{name}_retention"),
            path("<path:object_id>/release/", wrap(self.release_view), name=f"{name}_release"),
            *super().get_urls(),
        ]

    def retention(self, request: HttpRequest) -> HttpResponse:
        return retention_view(self, request)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        context["can_release"] = obj is not None and obj.is_active and self.may_release(request)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _page(self, request: HttpRequest, template: str, title: str, **context: Any) -> Any:
        return TemplateResponse(
            request,
            template,
            {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context},
        )

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Place a hold (leads only); a refusal is a message and the form again, nothing
        placed."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = LegalHoldPlaceForm(request.POST)
            if form.is_valid():
                try:
                    hold = legal_hold_place(actor=Actor.for_user(request.user), **form.to_input())
                except DomainError as exc:
                    form.add_error(None, hold_refusal(exc))
                else:
                    messages.success(
                        request,
                        f"Hold #{hold.pk} ({hold.legal_reference}) is placed, to be reviewed by "
                        f"{hold.review_date:%Y-%m-%d}.",
                    )
                    return HttpResponseRedirect(reverse("admin:cases_legalhold_changelist"))
            messages.error(request, f"No hold was placed. {form.errors_in_words()}")
        else:
            form = LegalHoldPlaceForm(
                initial={k: request.GET[k] for k in ("account", "case") if request.GET.get(k)}
            )
        return self._page(
            request, "admin/cases/legalhold/place_form.html", "Place a legal hold", form=form
        )

    def release_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Release an active hold with a reason (leads only)."""
        hold = self.get_object(request, unquote(object_id))
        if hold is None:
            raise Http404("No such legal hold.")
        if not self.may_release(request):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse("admin:cases_legalhold_change", args=[hold.pk]))
        if not hold.is_active:
            messages.error(request, f"Hold #{hold.pk} was released already; nothing was changed.")
            return back
        if request.method == "POST":
            form = LegalHoldReleaseForm(request.POST)
            if form.is_valid():
                try:
                    legal_hold_release(
                        hold=hold,
                        reason=form.cleaned_data["reason"],
                        actor=Actor.for_user(request.user),
                    )
                except DomainError as exc:
                    messages.error(request, f"The hold was not released. {hold_refusal(exc)}")
                else:
                    messages.success(
                        request, f"Hold #{hold.pk} ({hold.legal_reference}) is released."
                    )
                return back
            errors = " ".join(str(e) for errors in form.errors.values() for e in errors)
            messages.error(request, f"The hold was not released. {errors}")
        else:
            form = LegalHoldReleaseForm()
        return self._page(
            request,
            "admin/cases/legalhold/release_form.html",
            f"Release hold #{hold.pk}",
            form=form,
            hold=hold,
            target=hold_target(hold),
        )


__all__ = ["LegalHoldAdmin", "active_holds_of", "holds_url"]
