"""Policies in the admin: editing a clause makes a new version (``cases.services.policy_revise``);
old versions never change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from cases.models import PolicyClause, PolicyVersion
from cases.services import policy_revise
from core.actors import Actor
from core.admin import LeadEditsAdmin, ReadOnlyAdmin, ReadOnlyInline, ServiceWritesAdmin


class PolicyClauseForm(forms.ModelForm):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, "cols": 90}),
        help_text="The clause as it will be cited. Saving a change makes a new version.",
    )

    class Meta:
        model = PolicyClause
        fields = ("code", "title", "severity")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            current = PolicyVersion.objects.filter(
                policy=self.instance, version=self.instance.current_version
            ).first()
            if current is not None:
                self.fields["text"].initial = current.text


class PolicyVersionInline(ReadOnlyInline):
    model = PolicyVersion
    fields = ("version", "title", "severity", "effective_from", "created_by", "text")
    readonly_fields = fields
    ordering = ("-version",)


@admin.register(PolicyClause)
class PolicyClauseAdmin(ServiceWritesAdmin, LeadEditsAdmin):
    form = PolicyClauseForm
    list_display = ("code", "title", "severity", "current_version")
    search_fields = ("code", "title")
    inlines = (PolicyVersionInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("code", "current_version") if obj is not None else ("current_version",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if not self.has_change_permission(request, obj):
            return ["code", "title", "severity", "current_version"]
        return ["code", "title", "severity", "current_version", "text"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # cited by decisions forever

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        clause = policy_revise(
            policy=obj if change else None,
            code=obj.code,
            title=form.cleaned_data["title"],
            text=form.cleaned_data["text"],
            severity=form.cleaned_data["severity"],
            actor=Actor.for_user(request.user),
        )
        self.adopt(obj, clause)


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ("policy", "version", "title", "severity", "effective_from", "created_by")
    list_select_related = ("policy", "created_by")
    list_filter = ("severity",)
    search_fields = ("policy__code", "title")
