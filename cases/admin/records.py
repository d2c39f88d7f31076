"""The rest of the cases app in the admin: signals and timelines (read-only), rules (leads)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cases.choices import EventAction
from cases.models import (
    CaseEvent,
    CaseNote,
    EnforcementChange,
    EvidenceReference,
    FlagRule,
    Incident,
    IncidentSignal,
    RemediationItem,
    RemediationPlan,
    Reminder,
    ReviewDeadlineRule,
    Signal,
)
from cases.services import flag_rule_delete, flag_rule_save, review_deadline_rule_save
from core.actors import ActedBy, Actor
from core.admin import (
    LeadEditsAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ServiceWritesAdmin,
    choices_filter,
)


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "account",
        "kind",
        "severity",
        "source",
        "client",
        "policy",
        "automated",
    )
    list_select_related = ("account", "policy", "client")
    list_filter = ("severity", "automated")
    search_fields = ("=account__external_id",)
    search_help_text = "Exact account external id."
    ordering = ("-id",)  # newest received first, by the primary key index


class IncidentSignalInline(ReadOnlyInline):
    model = IncidentSignal
    fields = ("signal",)
    readonly_fields = ("signal",)


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "kind",
        "severity",
        "rule",
        "case",
        "signal_count",
        "last_seen",
    )
    list_select_related = ("account", "rule", "case")
    list_filter = ("severity",)
    search_fields = ("=account__external_id",)
    search_help_text = "Exact account external id."
    ordering = ("-id",)
    raw_id_fields = ("account", "case")
    inlines = (IncidentSignalInline,)


@admin.register(FlagRule)
class FlagRuleAdmin(ServiceWritesAdmin, LeadEditsAdmin):
    list_display = (
        "name",
        "kind",
        "min_severity",
        "signal_kind",
        "threshold",
        "window",
        "policy",
        "priority",
        "active",
    )
    list_select_related = ("policy",)
    list_filter = ("active", "kind")
    readonly_fields = ("created_at",)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        flag_rule_save(rule=obj, actor=Actor.for_user(request.user))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        flag_rule_delete(rule=obj, actor=Actor.for_user(request.user))


@admin.register(ReviewDeadlineRule)
class ReviewDeadlineRuleAdmin(ServiceWritesAdmin, LeadEditsAdmin):
    list_display = ("state", "priority", "duration")
    list_filter = ("state",)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        review_deadline_rule_save(rule=obj, actor=Actor.for_user(request.user))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # every state and priority keeps a deadline; change the duration instead


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    list_display = (
        "case",
        "seq",
        "at",
        "actor_label",
        "actor_kind",
        "acted_by",
        "action",
        "from_state",
        "to_state",
    )
    list_filter = (
        choices_filter("action", "action", EventAction.choices),
        "actor_kind",
        choices_filter("acted_by", "acted by", ActedBy.choices),
    )
    search_fields = ("=case__id",)
    search_help_text = "Exact case id."
    ordering = ("-id",)  # newest first, by the primary key index


@admin.register(EnforcementChange)
class EnforcementChangeAdmin(ReadOnlyAdmin):
    list_display = ("seq", "account", "previous_status", "status", "case", "at")
    list_select_related = ("account",)
    list_filter = ("status",)
    search_fields = ("=account__external_id",)
    ordering = ("-seq",)


def _version(obj: CaseNote | EvidenceReference) -> str:
    """Where a row stands among its versions: the current one, or corrected by which row."""
    newer = getattr(obj, "correction", None)
    if newer is not None:
        return f"corrected by {newer.pk}"
    return f"current (corrects {obj.corrects_id})" if obj.corrects_id else "current"


@admin.register(CaseNote)
class CaseNoteAdmin(ReadOnlyAdmin):
    list_display = ("id", "case", "author", "created_at", "body", "version")
    list_select_related = ("correction",)
    search_fields = ("=case__id",)
    search_help_text = "Exact case id."
    ordering = ("-id",)

    @admin.display(description="version")
    def version(self, obj: CaseNote) -> str:
        return _version(obj)


@admin.register(EvidenceReference)
class EvidenceReferenceAdmin(ReadOnlyAdmin):
    list_display = ("id", "case", "reference", "added_by", "created_at", "version")
    list_select_related = ("correction",)
    search_fields = ("=case__id",)
    search_help_text = "Exact case id."
    ordering = ("-id",)

    @admin.display(description="version")
    def version(self, obj: EvidenceReference) -> str:
        return _version(obj)


class RemediationItemInline(ReadOnlyInline):
    model = RemediationItem
    fields = ("position", "description", "verified_at", "verified_by", "verification_note")
    readonly_fields = fields


@admin.register(RemediationPlan)
class RemediationPlanAdmin(ReadOnlyAdmin):
    list_display = ("case", "deadline", "verified_at", "created_at")
    ordering = ("deadline",)
    inlines = (RemediationItemInline,)


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ("case", "kind", "deadline", "sent_at")
    search_fields = ("=case__id",)
    search_help_text = "Exact case id."
    ordering = ("-sent_at",)
