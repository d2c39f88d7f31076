"""Canned reasons in the admin: every role reads them, leads add, change and deactivate them.

Each write is a call of ``cases.services.canned_reason_save`` or ``canned_reason_deactivate``;
nobody deletes one (the cases it was used on keep its text either way). The transition forms
and the bulk suspend and dismiss forms offer the active ones (``cases.admin.forms``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.models import CannedReason
from cases.services import canned_reason_deactivate, canned_reason_save
from cases.workflow import ACTIONS
from core.actors import Actor
from core.admin import LeadEditsAdmin, ServiceWritesAdmin

from .forms import TRANSITION_FORMS

ACTION_CHOICES = [(action, TRANSITION_FORMS[action].label) for action in ACTIONS]
ACTION_WORDS = dict(ACTION_CHOICES)


class CannedReasonForm(forms.ModelForm):
    actions = forms.MultipleChoiceField(
        label="Applies to",
        choices=ACTION_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text="The forms that offer it (the bulk suspend and dismiss forms too).",
        error_messages={"required": "Tick at least one action the reason applies to."},
    )
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 90}),
        help_text="Written into the case as the reason (staff may add to it). Changing it later "
        "changes no case it was already used on.",
    )

    class Meta:
        model = CannedReason
        fields = ("title", "text", "actions", "active")


@admin.register(CannedReason)
class CannedReasonAdmin(ServiceWritesAdmin, LeadEditsAdmin):
    form = CannedReasonForm
    list_display = ("title", "applies_to", "active", "updated_at", "updated_by")
    list_select_related = ("updated_by",)
    list_filter = ("active",)
    search_fields = ("title", "text")
    actions = ("deactivate",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if not self.has_change_permission(request, obj):
            return ["title", "text", "applies_to", "active", "updated_at", "updated_by"]
        if obj is None:
            return ["title", "text", "actions", "active"]
        return ["title", "text", "actions", "active", "created_at", "updated_at", "updated_by"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("applies_to", "created_at", "updated_at", "updated_by")

    @admin.display(description="applies to")
    def applies_to(self, obj: CannedReason) -> str:
        return ", ".join(ACTION_WORDS.get(a, a) for a in obj.actions)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivated instead: a reason once offered stays on the record

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        saved = canned_reason_save(
            canned_reason=obj.pk if change else None,
            title=data["title"],
            text=data["text"],
            actions=data["actions"],
            active=data["active"],
            actor=Actor.for_user(request.user),
        )
        self.adopt(obj, saved)

    @admin.action(description="Deactivate selected canned reasons", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[CannedReason]) -> None:
        actor = Actor.for_user(request.user)
        done = [r.title for r in queryset if canned_reason_deactivate(canned_reason=r, actor=actor)]
        if done:
            self.message_user(request, f"Deactivated {len(done)}: {', '.join(done)}.")
        else:
            self.message_user(request, "Those were inactive already.", messages.WARNING)
