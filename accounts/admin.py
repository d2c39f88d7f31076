"""Accounts, partners and API clients in the admin.

An account's name, tier, contacts and channels are saved by ``accounts.services.account_upsert``
and a partner by ``partner_upsert``, the same functions the API uses. Its enforcement fields
are derived by ``cases.services`` and never edited here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import validate_email
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from cases.admin.decisions import DecisionInline, restrictions_html
from cases.choices import OPEN_STATES
from cases.evasion import account_link_dismiss, evasion_queue
from cases.models import Case, LegalHold
from cases.selectors import account_enforcement_now, contactless_accounts
from core.actors import Actor
from core.admin import (
    LeadEditsAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ServiceWritesAdmin,
    is_lead,
    reads_only,
    refusal_in_words,
)
from core.errors import DomainError
from notifications.admin.propagations import propagation_rows
from notifications.models import Propagation
from notifications.selectors import partner_endpoints_health, propagations_open

from .models import (
    Account,
    AccountLinkDismissal,
    ApiClient,
    Channel,
    CommonDomain,
    EvasionPolicy,
    IdentifierKindSetting,
    Partner,
)
from .services import (
    DIRECT,
    account_upsert,
    common_domain_delete,
    common_domain_save,
    evasion_policy_save,
    identifier_kind_setting_save,
    partner_upsert,
)


class ContactsField(forms.Field):
    """E-mail addresses, one a line (stored as a list)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60})

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "One e-mail address a line.")
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        return [line.strip() for line in str(value or "").splitlines() if line.strip()]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        for address in value:
            try:
                validate_email(address)
            except forms.ValidationError:
                raise forms.ValidationError(f"Not an e-mail address: {address}") from None


class AccountForm(forms.ModelForm):
    """An account's own fields and its channels: the partners it comes through, and
    ``direct``. Saved together by ``account_upsert``."""

    channel_partners = forms.ModelMultipleChoiceField(
        queryset=Partner.objects.order_by("code"),
        required=False,
        label="Partners",
        help_text="The partners through which this account reaches the API.",
    )

    class Meta:
        model = Account
        fields = ("external_id", "name", "tier", "contacts", "direct")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["channel_partners"].initial = list(
                self.instance.channels.values_list("partner_id", flat=True)
            )

    contacts = ContactsField(required=False)

    def channels(self) -> list[str]:
        codes = [p.code for p in self.cleaned_data.get("channel_partners") or []]
        return [*codes, DIRECT] if self.cleaned_data.get("direct") else codes


class ContactFilter(admin.SimpleListFilter):
    """Accounts without a contact address, which no notice reaches (the dashboard links the
    ones with an open case)."""

    title = "contact"
    parameter_name = "contact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("none_open", "None, with an open case"), ("none", "None")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Account]) -> QuerySet[Account]:
        if self.value() == "none_open":
            return queryset.filter(pk__in=contactless_accounts().values("pk"))
        if self.value() == "none":
            return queryset.filter(contacts=[])
        return queryset


class ChannelInline(ReadOnlyInline):
    model = Channel
    fields = ("partner", "created_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Channel]:
        return super().get_queryset(request).select_related("partner")


class CaseInline(ReadOnlyInline):
    model = Case
    fields = ("state", "priority", "assignee", "review_deadline", "created_at", "closed_at")
    readonly_fields = fields
    show_change_link = True
    ordering = ("-created_at",)


@admin.register(Account)
class AccountAdmin(ServiceWritesAdmin):
    form = AccountForm
    list_display = (
        "external_id",
        "name",
        "tier",
        "status_label",
        "channels_label",
        "open_case_label",
        "created_at",
    )
    list_filter = ("enforcement_status", "tier", "direct", ContactFilter)
    search_fields = ("^external_id", "name")
    search_help_text = "External id (or its start) or name."
    ordering = ("external_id",)
    fields = (
        "external_id",
        "name",
        "tier",
        "contacts",
        "direct",
        "channel_partners",
        "enforcement_now",
        "restrictions_in_force",
        "enforcement_case",
        "legal_holds",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "enforcement_now",
        "restrictions_in_force",
        "enforcement_case",
        "legal_holds",
        "created_at",
        "updated_at",
    )
    inlines = (ChannelInline, CaseInline, DecisionInline)
    change_form_template = "admin/accounts/account/change_form.html"

    class Media:
        css = {"all": ("cases/admin.css",)}

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None:  # the partners' table, as on the case page
            context["propagations"] = propagation_rows(
                Propagation.objects.filter(account=obj), now=timezone.now()
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self) -> list[URLPattern]:
        mark = self.admin_site.admin_view(require_POST(self.link_false_positive_view))
        return [
            path(
                "<int:account_id>/links/<int:other_id>/false-positive/",
                mark,
                name="accounts_account_link_false_positive",
            ),
            path(
                "evasion-queue/",
                self.admin_site.admin_view(self.evasion_queue_view),
                name="accounts_account_evasion_queue",
            ),
            *super().get_urls(),
        ]

    @reads_only
    def evasion_queue_view(self, request: HttpRequest) -> HttpResponse:
        """Open cases of suspected ban evasion, most urgent first (every staff role reads it)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Ban evasion queue",
            "opts": self.model._meta,
            "queue": evasion_queue(),
        }
        return TemplateResponse(request, "admin/accounts/evasion_queue.html", context)

    def link_false_positive_view(
        self, request: HttpRequest, account_id: int, other_id: int
    ) -> HttpResponse:
        """A lead marks the link between two accounts a false positive (``Linked accounts``)."""
        if not is_lead(request):
            raise PermissionDenied
        account = get_object_or_404(Account, pk=account_id)
        other = get_object_or_404(Account, pk=other_id)
        try:
            account_link_dismiss(
                account=account,
                other=other,
                reason=str(request.POST.get("reason", "")),
                actor=Actor.for_user(request.user),
            )
        except DomainError as exc:
            self.message_user(request, refusal_in_words(exc), messages.ERROR)
        else:
            self.message_user(
                request,
                f"The link between {account.external_id} and {other.external_id} is marked a "
                "false positive: it will not match again.",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        open_case = Case.objects.filter(account=OuterRef("pk"), state__in=OPEN_STATES)
        return (
            super()
            .get_queryset(request)
            .prefetch_related("partners")
            .annotate(
                open_case_id=Subquery(open_case.values("pk")[:1]),
                open_case_state=Subquery(open_case.values("state")[:1]),
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        return ("external_id", *fields) if obj is not None else fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # accounts are referenced by signals and cases forever

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        account, _ = account_upsert(
            external_id=obj.external_id,
            name=data.get("name") or "",
            tier=data.get("tier"),
            contacts=list(data.get("contacts") or []),
            channels=form.channels(),
        )
        self.adopt(obj, account)

    @admin.display(description="enforcement", ordering="enforcement_status")
    def status_label(self, obj: Account) -> str:
        status = account_enforcement_now(obj)["status"]
        return format_html('<span class="ts-enforcement-{}">{}</span>', status, status)

    @admin.display(description="enforcement")
    def enforcement_now(self, obj: Account) -> str:
        now = account_enforcement_now(obj)
        until = f", until {now['until'][:16].replace('T', ' ')} UTC" if now["until"] else ""
        return format_html(
            '<span class="ts-enforcement-{}">{}</span> since {} UTC{}',
            now["status"],
            now["status"],
            now["since"][:16].replace("T", " "),
            until,
        )

    @admin.display(description="restrictions in force")
    def restrictions_in_force(self, obj: Account) -> str:
        return restrictions_html(account_enforcement_now(obj)["restrictions"])

    @admin.display(description="legal holds")
    def legal_holds(self, obj: Account) -> str:
        """The active holds on the account or one of its cases, and the way to all of them."""
        if obj.pk is None:
            return "—"
        holds = LegalHold.objects.filter(
            Q(account=obj) | Q(case__account=obj), released_at__isnull=True
        ).order_by("review_date", "id")
        listed = format_html_join(
            "; ",
            '<a href="{}">{}</a> (on {}, review by {})',
            (
                (
                    reverse("admin:cases_legalhold_change", args=[hold.pk]),
                    hold.legal_reference,
                    f"case #{hold.case_id}" if hold.case_id else "the account",
                    f"{hold.review_date:%Y-%m-%d}",
                )
                for hold in holds
            ),
        )
        url = reverse("admin:cases_legalhold_changelist")
        return format_html(
            '{} &middot; <a href="{}?{}" id="ts-holds-all">All holds of the account</a>',
            listed or "No active legal hold.",
            url,
            urlencode({"q": obj.external_id}),
        )

    @admin.display(description="channels")
    def channels_label(self, obj: Account) -> str:
        return ", ".join(obj.channel_codes) or "—"

    @admin.display(description="open case")
    def open_case_label(self, obj: Any) -> str:
        if obj.open_case_id is None:
            return "—"
        url = reverse("admin:cases_case_change", args=[obj.open_case_id])
        return format_html('<a href="{}">#{} ({})</a>', url, obj.open_case_id, obj.open_case_state)


@admin.register(Partner)
class PartnerAdmin(ServiceWritesAdmin, LeadEditsAdmin):
    """A partner, its contact address for the follow-up's reminders, and how its webhook
    endpoints are doing (read in two queries, whatever the number of endpoints)."""

    list_display = ("code", "name", "kind", "contact_email", "created_at")
    list_filter = ("kind",)
    search_fields = ("code", "name")
    fields = ("code", "name", "kind", "contact_email", "endpoints_health", "open_propagations")

    class Media:
        css = {"all": ("cases/admin.css",)}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("endpoints_health", "open_propagations")
        return ("code", "endpoints_health", "open_propagations")  # accounts' channels name it

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields if obj is not None else ("code", "name", "kind", "contact_email")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        partner, _ = partner_upsert(
            code=obj.code, name=obj.name, kind=obj.kind, contact_email=obj.contact_email or ""
        )
        self.adopt(obj, partner)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="webhook endpoints")
    def endpoints_health(self, obj: Partner) -> SafeString | str:
        endpoints = partner_endpoints_health(partner_id=obj.pk, now=timezone.now())
        if not endpoints:
            return "No webhook endpoint: this partner hears of changes only by its feed."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:notifications_webhookendpoint_change", args=[e.pk]),
                    e.url,
                    _endpoint_state(e),
                    f"{e.last_ok:%Y-%m-%d %H:%M} UTC" if e.last_ok else "never",
                    e.failed_24h,
                    f"{e.notices_failed} failed, {e.notices_stopped} stopped",
                )
                for e in endpoints
            ),
        )
        return format_html(
            '<table class="ts-endpoints"><thead><tr><th>URL</th><th>state</th>'
            "<th>last successful delivery</th><th>failed attempts (24 h)</th>"
            "<th>notices</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )

    @admin.display(description="open propagations")
    def open_propagations(self, obj: Partner) -> SafeString:
        count = propagations_open().filter(partner=obj).count()
        url = reverse("admin:notifications_propagation_changelist")
        return format_html(
            '<a href="{}?partner__id__exact={}&amp;follow_up=open">{} not reported</a>',
            url,
            obj.pk,
            count,
        )


def _endpoint_state(endpoint: Any) -> str:
    if endpoint.active:
        return "active"
    if endpoint.disabled_at is not None:
        return f"disabled {endpoint.disabled_at:%Y-%m-%d %H:%M} UTC: {endpoint.disabled_reason}"
    return "disabled by a lead"


@admin.register(ApiClient)
class ApiClientAdmin(ReadOnlyAdmin):
    """Keys are made by ``manage.py create_api_client``; only their prefix is shown."""

    list_display = (
        "name",
        "key_prefix",
        "role",
        "scopes",
        "staff_tool",
        "created_at",
        "revoked_at",
    )
    fields = ("name", "key_prefix", "role", "scopes", "staff_tool", "created_at", "revoked_at")
    search_fields = ("name", "=key_prefix")


@admin.register(CommonDomain)
class CommonDomainAdmin(ServiceWritesAdmin, LeadEditsAdmin):
    """Free-mail and hosting domains that are never matched (leads edit)."""

    list_display = ("domain", "note", "created_at")
    search_fields = ("domain",)
    fields = ("domain", "note")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        self.adopt(obj, common_domain_save(domain=obj, actor=Actor.for_user(request.user)))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        common_domain_delete(domain=obj, actor=Actor.for_user(request.user))


@admin.register(IdentifierKindSetting)
class IdentifierKindSettingAdmin(ServiceWritesAdmin, LeadEditsAdmin):
    """How strong a shared identifier of each kind is (leads change; one row per kind)."""

    list_display = ("kind", "strength", "updated_at")
    fields = ("kind", "strength")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("kind",) if obj is not None else ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row per kind, made by the migration

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = identifier_kind_setting_save(setting=obj, actor=Actor.for_user(request.user))
        self.adopt(obj, saved)


@admin.register(EvasionPolicy)
class EvasionPolicyAdmin(ServiceWritesAdmin, LeadEditsAdmin):
    """How many weak kinds make a link worth a signal (leads change the one row)."""

    list_display = ("weak_kinds_required", "updated_at")
    fields = ("weak_kinds_required",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        saved = evasion_policy_save(
            weak_kinds_required=obj.weak_kinds_required, actor=Actor.for_user(request.user)
        )
        self.adopt(obj, saved)


@admin.register(AccountLinkDismissal)
class AccountLinkDismissalAdmin(ReadOnlyAdmin):
    """Links marked false positive, with who marked them and why (marked on the account page)."""

    list_display = ("low", "high", "marked_by", "created_at", "reason")
    list_select_related = ("low", "high")
    search_fields = ("^low__external_id", "^high__external_id")
