"""The notice history of a case, as ``GET /api/v1/cases/{id}/notices`` shows it."""

from __future__ import annotations

from rest_framework import serializers

from notifications.models import DeliveryAttempt, Notice


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
