"""Accounts, partners and API clients in the admin.

An account's enforcement fields are derived by ``cases.services`` and never edited here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from cases.admin.base import FastAdmin, LeadEditsAdmin, ReadOnlyAdmin, ReadOnlyInline
from cases.choices import OPEN_STATES
from cases.models import Case

from .models import Account, ApiClient, Channel, Partner


class ChannelInline(admin.TabularInline):
    model = Channel
    extra = 0
    fields = ("partner", "created_at")
    readonly_fields = ("created_at",)


class CaseInline(ReadOnlyInline):
    model = Case
    fields = ("state", "priority", "assignee", "review_deadline", "created_at", "closed_at")
    readonly_fields = fields
    show_change_link = True
    ordering = ("-created_at",)


@admin.register(Account)
class AccountAdmin(FastAdmin):
    list_display = (
        "external_id",
        "name",
        "tier",
        "status_label",
        "channels_label",
        "open_case_label",
        "created_at",
    )
    list_filter = ("enforcement_status", "tier", "direct")
    search_fields = ("^external_id", "name")
    search_help_text = "External id (or its start) or name."
    ordering = ("external_id",)
    fields = (
        "external_id",
        "name",
        "tier",
        "contacts",
        "direct",
        "enforcement_status",
        "enforcement_since",
        "enforcement_case",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "enforcement_status",
        "enforcement_since",
        "enforcement_case",
        "created_at",
        "updated_at",
    )
    inlines = (ChannelInline, CaseInline)

    class Media:
        css = {"all": ("cases/admin.css",)}

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

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # accounts are referenced by signals and cases forever

    @admin.display(description="enforcement", ordering="enforcement_status")
    def status_label(self, obj: Account) -> str:
        return format_html(
            '<span class="ts-enforcement-{}">{}</span>',
            obj.enforcement_status,
            obj.get_enforcement_status_display(),
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
class PartnerAdmin(LeadEditsAdmin):
    list_display = ("code", "name", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("code", "name")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
