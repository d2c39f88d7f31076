"""Webhook endpoints (leads edit), and notices with their delivery attempts (read-only).

Redelivery goes through ``notifications.services.notice_redeliver`` and new endpoints through
``notifications.services.endpoint_create`` (which encrypts the secret) when the notices work
provides them; the admin never changes a notice row itself. Both are looked up when used, so
this module works with and without them.
"""

from __future__ import annotations

import base64
import logging
import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.actors import Actor
from cases.admin.base import (
    LeadEditsAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    choices_filter,
    request_role,
)
from cases.choices import Role
from cases.errors import CaseError
from cases.workflow import role_allows

from . import services
from .choices import WebhookEvent
from .models import DeliveryAttempt, Notice, WebhookEndpoint

logger = logging.getLogger(__name__)

# The notice event names every producer uses (see notifications.models.Notice.event).
NOTICE_EVENTS = [
    (name, name)
    for name in (
        "suspension",
        "remediation_required",
        "reinstatement",
        "termination",
        "plan_reminder",
        "case.opened",
        "case.assigned",
        "deadline.reminder",
        "deadline.escalation",
        "digest",
        "endpoint.disabled",
        *WebhookEvent.values,
    )
]

# notifications.services.notice_redeliver lets investigators and leads resend a notice.
REDELIVER_MIN_ROLE = Role.INVESTIGATOR


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

    def clean_url(self) -> str:
        """Refuse URLs into our own network, with the notices work's check when present."""
        url: str = self.cleaned_data["url"]
        try:
            from notifications.urls_check import (  # type: ignore[import-not-found,unused-ignore]  # on the notices branch
                webhook_url_check,
            )
        except ImportError:
            return url
        try:
            webhook_url_check(url)
        except CaseError as exc:
            raise ValidationError(exc.detail) from None
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(LeadEditsAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "partner", "events_label", "active", "disabled_reason", "updated_at")
    list_select_related = ("partner",)
    list_filter = ("active", "partner")
    search_fields = ("url", "partner__code")
    readonly_fields = ("disabled_at", "disabled_reason")
    actions = ("enable",)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:  # new endpoints start active
            return ["partner", "url", "description", "event_types"]
        fields = ["partner", "url", "description", "event_types", "active"]
        if obj.disabled_at is not None:
            fields += ["disabled_at", "disabled_reason"]
        return fields

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        if not role_allows(request_role(request), services.ENDPOINT_MIN_ROLE):
            return {}
        return super().get_actions(request)

    @admin.action(description="Enable selected endpoints (and resend their stopped notices)")
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        actor = Actor.for_user(request.user)
        for endpoint in queryset.filter(active=False).order_by("pk"):
            try:
                _, resumed = services.endpoint_enable(endpoint_id=endpoint.pk, actor=actor)
            except CaseError as exc:
                messages.error(request, f"{endpoint.url}: {exc.detail}")
            else:
                messages.success(
                    request, f"{endpoint.url} enabled; {resumed} stopped notice(s) sent again."
                )

    @admin.display(description="events")
    def events_label(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types or []) or "—"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        create = getattr(services, "endpoint_create", None)
        if create is not None:
            endpoint, secret = create(
                url=obj.url,
                event_types=list(obj.event_types),
                actor=Actor.for_user(request.user),
                partner=obj.partner,
                description=obj.description,
            )
            obj.pk = endpoint.pk
            obj.secret = endpoint.secret
            obj.active = endpoint.active
            obj.created_at = endpoint.created_at
            obj._state.adding = False
        else:
            secret = webhook_secret_new()
            obj.secret = secret
            super().save_model(request, obj, form, change)
        messages.warning(
            request,
            f"The signing secret of {obj.url} is {secret}. It is shown once: "
            "give it to the partner now.",
        )


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
    list_filter = ("status", "channel", choices_filter("event", "event", NOTICE_EVENTS))
    search_fields = ("=account__external_id",)
    search_help_text = "Exact account external id (a case's notices are on the case page)."
    ordering = ("-created_at",)
    inlines = (DeliveryAttemptInline,)
    actions = ("redeliver",)
    exclude = ("body_html",)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        if not role_allows(request_role(request), REDELIVER_MIN_ROLE):
            return {}
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Redeliver selected notices")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[Notice]) -> None:
        notice_redeliver = getattr(services, "notice_redeliver", None)
        if notice_redeliver is None:
            messages.error(request, "Redelivery is not available in this build.")
            return
        actor = Actor.for_user(request.user)
        done: list[str] = []
        refused: list[str] = []
        for notice in queryset.order_by("created_at"):
            try:
                notice_redeliver(notice_id=notice.pk, actor=actor)
            except CaseError as exc:  # report each refusal, then go on with the rest
                logger.info("redelivery of notice %s refused: %s", notice.pk, exc.detail)
                refused.append(f"{notice.webhook_id} ({notice.event}): {exc.detail}")
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
