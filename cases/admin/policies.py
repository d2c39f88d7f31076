"""Policies in the admin: editing a clause makes a new version; old versions never change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from cases.models import PolicyClause, PolicyVersion

from .base import LeadEditsAdmin, ReadOnlyAdmin, ReadOnlyInline


def policy_revise(
    *, policy: PolicyClause | None, code: str, title: str, text: str, severity: str, user: Any
) -> PolicyClause:
    """Create a clause with its first version, or append a version if the wording changed.

    Decisions cite ``(code, version)``; a version's text is never edited afterwards, so a
    notice sent yesterday still points at the words in force yesterday. The clause row is
    locked so that two leads editing at once make versions n+1 and n+2, not two n+1.
    (Policies are not case state; this sits with the admin, the only place that edits them.)
    """
    now = timezone.now()
    with transaction.atomic():
        if policy is None:
            clause = PolicyClause.objects.create(
                code=code, title=title, severity=severity, current_version=1, created_at=now
            )
            PolicyVersion.objects.create(
                policy=clause,
                version=1,
                title=title,
                text=text,
                severity=severity,
                effective_from=now,
                created_by=user,
            )
            return clause
        clause = PolicyClause.objects.select_for_update().get(pk=policy.pk)
        current = PolicyVersion.objects.filter(
            policy=clause, version=clause.current_version
        ).first()
        if current is not None and (current.title, current.text, current.severity) == (
            title,
            text,
            severity,
        ):
            return clause
        latest = PolicyVersion.objects.filter(policy=clause).aggregate(n=Max("version"))["n"] or 0
        number = max(latest, clause.current_version) + 1
        PolicyVersion.objects.create(
            policy=clause,
            version=number,
            title=title,
            text=text,
            severity=severity,
            effective_from=now,
            created_by=user,
        )
        PolicyClause.objects.filter(pk=clause.pk).update(
            current_version=number, title=title, severity=severity
        )
        clause.refresh_from_db()
        return clause


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
class PolicyClauseAdmin(LeadEditsAdmin):
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
            user=request.user,
        )
        obj.pk = clause.pk
        obj.current_version = clause.current_version
        obj.created_at = clause.created_at
        obj._state.adding = False


@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyAdmin):
    list_display = ("policy", "version", "title", "severity", "effective_from", "created_by")
    list_select_related = ("policy", "created_by")
    list_filter = ("severity",)
    search_fields = ("policy__code", "title")
