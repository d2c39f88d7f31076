"""Webhook endpoints (leads edit), notices with their delivery attempts and the partners'
propagations (``propagations``), read-only.

Every write goes through ``notifications.services``: new endpoints through ``endpoint_create``
(which checks the URL and encrypts the secret), changes through ``endpoint_update``,
redelivery through ``notice_redeliver``. The endpoint form validates with the same
``endpoint_input_clean`` the services use; the admin never writes a row itself.
"""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from core.actors import Actor
from core.admin import (
    LeadEditsAdmin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ServiceWritesAdmin,
    choices_filter,
    refusal_in_words,
    request_role,
)
from core.errors import DomainError
from core.roles import Role, role_allows

from .. import services
from ..choices import NoticeStatus, WebhookEvent
from ..models import DeliveryAttempt, Notice, WebhookEndpoint
from . import propagations  # noqa: F401  # registers the Partners queue

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
        "case.priority_raised",
        "deadline.reminder",
        "deadline.escalation",
        "digest",
        "endpoint.disabled",
        "partner.ack_reminder",
        "partner.report_reminder",
        "partner.overdue",
        *WebhookEvent.values,
    )
]

# notifications.services.notice_redeliver lets investigators and leads resend a notice.
REDELIVER_MIN_ROLE = Role.INVESTIGATOR


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    event_types = forms.MultipleChoiceField(
        choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("partner", "url", "description", "event_types", "active")

    def clean(self) -> dict[str, Any]:
        """The services' own check of an endpoint (the URL's SSRF check included)."""
        data: dict[str, Any] = super().clean() or {}
        if self.errors:
            return data
        try:
            services.endpoint_input_clean(
                url=data["url"],
                event_types=list(data["event_types"]),
                partner=data.get("partner"),
                description=data.get("description") or "",
            )
        except DomainError as exc:
            field = exc.fields.get("field")
            self.add_error(field if field in self.fields else None, refusal_in_words(exc))
        return data


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ServiceWritesAdmin, LeadEditsAdmin):
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
            except DomainError as exc:
                messages.error(request, f"{endpoint.url}: {refusal_in_words(exc)}")
            else:
                messages.success(
                    request, f"{endpoint.url} enabled; {resumed} stopped notice(s) sent again."
                )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # notices cite their endpoint; an endpoint is made inactive instead

    @admin.display(description="events")
    def events_label(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.event_types or []) or "—"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        data = form.cleaned_data
        actor = Actor.for_user(request.user)
        if change:
            saved = services.endpoint_update(
                endpoint_id=obj.pk,
                actor=actor,
                url=data["url"],
                event_types=list(data["event_types"]),
                partner=data.get("partner"),
                description=data.get("description") or "",
                active=bool(data.get("active")),
            )
            self.adopt(obj, saved)
            return
        endpoint, secret = services.endpoint_create(
            url=data["url"],
            event_types=list(data["event_types"]),
            actor=actor,
            partner=data.get("partner"),
            description=data.get("description") or "",
        )
        self.adopt(obj, endpoint)
        messages.warning(
            request,
            f"The signing secret of {endpoint.url} is {secret}. It is shown once: "
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
    def redeliver(
        self, request: HttpRequest, queryset: QuerySet[Notice]
    ) -> TemplateResponse | None:
        """Send the selected notices again. When any already reached its recipient, a page
        names each recipient first and asks to confirm: a delivered e-mail would arrive twice."""
        notices = list(queryset.order_by("created_at"))
        delivered = [n for n in notices if n.status == NoticeStatus.DELIVERED]
        if delivered and "confirm" not in request.POST:
            return TemplateResponse(
                request,
                "admin/notifications/notice/redeliver_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "title": f"Send {len(notices)} notice(s) again?",
                    "notices": notices,
                    "delivered": delivered,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                },
            )
        actor = Actor.for_user(request.user)
        done: list[str] = []
        refused: list[str] = []
        for notice in notices:
            label = f"{notice.event} to {notice.recipient}"
            try:
                services.notice_redeliver(notice_id=notice.pk, actor=actor)
            except DomainError as exc:  # report each refusal, then go on with the rest
                logger.info("redelivery of notice %s refused: %s", notice.pk, exc.detail)
                refused.append(f"{label}: {refusal_in_words(exc)}")
            else:
                done.append(label)
        if done:
            messages.success(request, f"Queued {len(done)} notice(s) again: {'; '.join(done)}.")
        if refused:
            messages.error(request, f"Refused {len(refused)}: {'; '.join(refused)}")
        return None


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("at", "notice", "succeeded", "status_code", "latency_ms", "error")
    list_select_related = ("notice",)
    list_filter = ("succeeded",)
    ordering = ("-id",)
