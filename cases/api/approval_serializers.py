"""Bodies of the approvals operations, and the answer to a proposed action."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import StrictSerializer, TextField

from ..actions import MAX_TEXT
from ..choices import ApprovalAction, ApprovalState
from ..models import ApprovalRequest

ACTOR_SCHEMA = {
    "type": "object",
    "properties": {
        "kind": {"type": "string"},
        "label": {"type": "string"},
        "acted_by": {"type": "string"},
    },
    "required": ["kind", "label", "acted_by"],
}

APPROVAL_EXAMPLE = {
    "id": 7,
    "action": "terminate",
    "case": 42,
    "account": "acme-ai",
    "state": "pending",
    "input": {
        "rationale": "Deliberate, repeated distillation after a warning",
        "policies": ["competing-model-development"],
        "override_reason": "",
    },
    "proposed_by": {"kind": "staff", "label": "lead-ana", "acted_by": "person"},
    "proposed_at": "2026-11-25T10:00:00Z",
    "comment": "Deliberate, repeated distillation after a warning",
    "expires_at": "2026-11-28T10:00:00Z",
    "decided_by": None,
    "decided_at": None,
    "decision_comment": "",
    "decision": None,
}


class ApprovalSerializer(serializers.ModelSerializer[ApprovalRequest]):
    case = serializers.IntegerField(source="case_id")
    account = serializers.CharField(source="case.account.external_id")
    state = serializers.SerializerMethodField()
    proposed_by = serializers.SerializerMethodField()
    decided_by = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "action",
            "case",
            "account",
            "state",
            "input",
            "proposed_by",
            "proposed_at",
            "comment",
            "expires_at",
            "decided_by",
            "decided_at",
            "decision_comment",
            "decision",
        ]
        read_only_fields = fields

    @extend_schema_field(
        serializers.ChoiceField(
            choices=ApprovalState.choices,
            help_text="A pending request past `expires_at` reads `expired`.",
        )
    )
    def get_state(self, approval: ApprovalRequest) -> str:
        return approval.state_now

    @extend_schema_field(ACTOR_SCHEMA)
    def get_proposed_by(self, approval: ApprovalRequest) -> dict[str, str]:
        return {
            "kind": approval.proposed_by_kind,
            "label": approval.proposed_by_label,
            "acted_by": approval.proposed_by_acted_by,
        }

    @extend_schema_field({**ACTOR_SCHEMA, "nullable": True})
    def get_decided_by(self, approval: ApprovalRequest) -> dict[str, str] | None:
        if not approval.decided_by_label:
            return None
        return {
            "kind": approval.decided_by_kind,
            "label": approval.decided_by_label,
            "acted_by": approval.decided_by_acted_by,
        }

    @extend_schema_field(
        serializers.CharField(
            allow_null=True, help_text="The reference of the decision an approval made."
        )
    )
    def get_decision(self, approval: ApprovalRequest) -> str | None:
        return approval.decision.reference if approval.decision is not None else None


class ApprovalCreatedSerializer(serializers.Serializer[Any]):
    """The answer to a proposed action that needs four eyes."""

    approval = serializers.SerializerMethodField()

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "action": {"type": "string", "enum": list(ApprovalAction.values)},
                "state": {"type": "string", "enum": [ApprovalState.PENDING]},
                "proposed_by": ACTOR_SCHEMA,
                "expires_at": {"type": "string", "format": "date-time"},
            },
            "required": ["id", "action", "state", "proposed_by", "expires_at"],
        }
    )
    def get_approval(self, approval: ApprovalRequest) -> dict[str, Any]:
        return approval_created(approval)


def approval_created(approval: ApprovalRequest) -> dict[str, Any]:
    data = ApprovalSerializer(approval).data
    return {
        "approval": {
            "id": approval.pk,
            "action": approval.action,
            "state": data["state"],
            "proposed_by": data["proposed_by"],
            "expires_at": data["expires_at"],
        }
    }


class ApprovalDecideSerializer(StrictSerializer):
    comment = TextField(
        max_length=MAX_TEXT, required=False, allow_blank=True, help_text="On the timeline."
    )
