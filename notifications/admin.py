"""Webhook endpoints (leads edit), and notices with their delivery attempts (read-only).

Redelivery goes through ``notifications.services.notice_redeliver``; the admin never changes a
notice row itself.
"""

from __future__ import annotations

import base64
import logging
import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.actors import Actor
from cases.admin.base import LeadEditsAdmin, ReadOnlyAdmin, ReadOnlyInline, may_act

from .choices import WebhookEvent
from .models import DeliveryAttempt, Notice, WebhookEndpoint

logger = logging.getLogger(__name__)


def webhook_secret_new() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("partner", "url", "description", "event_types", "active")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(LeadEditsAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "partner", "events_label", "active", "updated_at")
    list_select_related = ("partner",)
    list_filter = ("active", "partner")
    search_fields = ("url", "partner__code")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["partner", "url", "description", "event_types", "active"]

    @admin.display(description="events")
    def events_label(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types or []) or "—"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not obj.secret:
            obj.secret = webhook_secret_new()
            messages.warning(
                request,
                f"The signing secret of {obj.url} is {obj.secret}. It is shown once: "
                "give it to the partner now.",
            )
        super().save_model(request, obj, form, change)


class DeliveryAttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = ("at", "succeeded", "status_code", "latency_ms", "error", "response_excerpt")
    readonly_fields = fields


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "event",
        "channel",
        "recipient",
        "status",
        "attempts",
        "case",
        "delivered_at",
    )
    list_filter = ("status", "channel", "event")
    search_fields = ("=case__id", "=account__external_id", "recipient")
    search_help_text = "Exact case id or account external id, or a recipient."
    ordering = ("-created_at",)
    inlines = (DeliveryAttemptInline,)
    actions = ("redeliver",)
    exclude = ("body_html",)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        if not may_act(request):
            return {}
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Redeliver selected notices")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Notice]) -> None:
        if not may_act(request):
            messages.error(request, "Auditors cannot redeliver notices.")
            return
        try:
            from notifications.services import notice_redeliver  # type: ignore[attr-defined,unused-ignore]  # built on the notices branch
        except ImportError:
            messages.error(request, "Redelivery is not available in this build.")
            return
        actor = Actor.for_user(request.user)
        done: list[str] = []
        refused: list[str] = []
        for notice in queryset.order_by("created_at"):
            try:
                notice_redeliver(notice_id=notice.pk, actor=actor)
            except Exception as exc:  # report each refusal, then go on with the rest
                logger.warning("redelivery of notice %s refused: %s", notice.pk, exc)
                refused.append(f"{notice.webhook_id} ({notice.event}): {exc}")
            else:
                done.append(notice.webhook_id)
        if done:
            messages.success(request, f"Queued {len(done)} notice(s) again: {', '.join(done)}.")
        if refused:
            messages.error(request, f"Refused {len(refused)}: {'; '.join(refused)}")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("at", "notice", "succeeded", "status_code", "latency_ms", "error")
    list_select_related = ("notice",)
    list_filter = ("succeeded",)
    ordering = ("-id",)
