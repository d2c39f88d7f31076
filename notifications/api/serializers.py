"""The notice history of a case (``GET /api/v1/cases/{id}/notices``), and the partner API's
feed and reports (partners.md)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.choices import EnforcementStatus
from config.api import StrictSerializer, TextField
from notifications.choices import PartnerOutcome, PropagationState, PropagationTrigger
from notifications.models import DeliveryAttempt, Notice, Propagation
from notifications.propagations import partner_urls


class DeliveryAttemptSerializer(serializers.ModelSerializer[DeliveryAttempt]):
    class Meta:
        model = DeliveryAttempt
        fields = ["at", "succeeded", "status_code", "latency_ms", "response_excerpt", "error"]
        read_only_fields = fields


class NoticeSerializer(serializers.ModelSerializer[Notice]):
    webhook_id = serializers.SerializerMethodField()
    deliveries = DeliveryAttemptSerializer(many=True, read_only=True, source="attempts_log")

    class Meta:
        model = Notice
        fields = [
            "id",
            "channel",
            "event",
            "recipient",
            "endpoint",
            "webhook_id",
            "subject",
            "status",
            "attempts",
            "created_at",
            "next_attempt_at",
            "delivered_at",
            "last_error",
            "statement_reference",
            "statement",
            "payload",
            "redelivered_at",
            "redelivered_by",
            "deliveries",
        ]
        read_only_fields = fields

    def get_webhook_id(self, notice: Notice) -> str | None:
        return notice.webhook_id if notice.channel == "webhook" else None


class PropagationStateSerializer(serializers.Serializer[Any]):
    """How far the partner has followed the change, as we have recorded it."""

    state = serializers.ChoiceField(choices=PropagationState.choices)
    trigger = serializers.ChoiceField(
        choices=PropagationTrigger.choices,
        help_text="`channel_added`: sent because you gained a channel to a restricted account.",
    )
    delivered_at = serializers.DateTimeField(allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    reported_at = serializers.DateTimeField(allow_null=True)
    reference = serializers.CharField(source="partner_reference", allow_blank=True)
    note = serializers.CharField(allow_blank=True)


class PartnerChangeSerializer(serializers.Serializer[Any]):
    """One enforcement change of an account that reaches the API through the partner."""

    cursor = serializers.IntegerField(
        source="seq", help_text="This item's place in your feed; `next` is the last one's."
    )
    seq = serializers.IntegerField(
        source="change.seq",
        help_text="The enforcement change's `seq` (`data.change` in the webhook): name it when "
        "you acknowledge or report.",
    )
    account = serializers.CharField(source="account.external_id")
    status = serializers.ChoiceField(source="change.status", choices=EnforcementStatus.choices)
    previous_status = serializers.ChoiceField(
        source="change.previous_status", choices=EnforcementStatus.choices
    )
    until = serializers.DateTimeField(source="change.until", allow_null=True)
    restrictions = serializers.ListField(
        source="change.restrictions", child=serializers.DictField(), read_only=True
    )
    policies = serializers.ListField(
        source="change.policies", child=serializers.JSONField(), read_only=True
    )
    decision = serializers.CharField(source="change.decision.reference", allow_null=True)
    case = serializers.IntegerField(source="change.case_id", allow_null=True)
    at = serializers.DateTimeField(source="change.at")
    propagation = PropagationStateSerializer(source="*")
    acknowledge_url = serializers.SerializerMethodField()
    report_url = serializers.SerializerMethodField()

    def get_acknowledge_url(self, obj: Propagation) -> str:
        return partner_urls(obj.change.seq)["acknowledge_url"]

    def get_report_url(self, obj: Propagation) -> str:
        return partner_urls(obj.change.seq)["report_url"]


class PartnerChangesSerializer(serializers.Serializer[Any]):
    results = PartnerChangeSerializer(many=True)
    next = serializers.CharField(help_text="Pass as `after` to read on; stays put at the end.")
    has_more = serializers.BooleanField()


class PartnerAcknowledgeSerializer(StrictSerializer):
    """No fields: the body may be left out, or be ``{}``."""


class PartnerReportSerializer(StrictSerializer):
    outcome = serializers.ChoiceField(
        choices=PartnerOutcome.choices,
        help_text="`applied`: you restricted the account as we did (or lifted it, for a "
        "reinstatement); `declined`: you did not.",
    )
    reference = TextField(
        required=False, allow_blank=True, max_length=200, help_text="Your own ticket or action id."
    )
    note = TextField(
        required=False, allow_blank=True, max_length=2000, help_text="What you did, in words."
    )
