"""Bodies of the signals and cases operations."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import ExternalIdField
from cases.choices import ActedBy, ActorKind, CaseState, Priority, Severity
from cases.models import Case, CaseEvent, Incident, RemediationItem, Signal
from cases.workflow import ACTIONS
from config.api import StrictDateTimeField
from config.limits import MAX_EVIDENCE_DEPTH, json_depth_exceeds

MAX_TEXT = 20_000
ACTION_CHOICES = [(a, a) for a in ACTIONS]


def contains_nul(value: Any) -> bool:
    """Whether any string in a JSON value holds a NUL (which PostgreSQL text cannot store)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(v) for v in value)
    return False


# --- signals ------------------------------------------------------------------------------------


class SignalInSerializer(serializers.Serializer[Any]):
    """One signal in a batch (validated by ``cases.intake``; this describes it)."""

    account = ExternalIdField()
    kind = serializers.CharField(max_length=64, help_text="e.g. `rate_limit_exceeded`.")
    severity = serializers.ChoiceField(choices=Severity.choices)
    occurred_at = StrictDateTimeField()
    source = serializers.CharField(max_length=100)  # type: ignore[assignment]  # DRF pops fields
    dedupe_key = serializers.CharField(max_length=200, help_text="Unique per source.")
    policy = serializers.CharField(max_length=64, required=False, allow_null=True)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT)
    evidence = serializers.DictField(
        required=False,
        help_text=f"Any JSON object of at most 64 KiB, nesting at most {MAX_EVIDENCE_DEPTH} "
        "objects and lists; numbers must be finite.",
    )


class SignalBatchSerializer(serializers.Serializer[Any]):
    signals = SignalInSerializer(many=True, help_text="1 to 1,000 signals.")


class SignalResultSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[("stored", "stored"), ("duplicate", "duplicate")])
    signal = serializers.IntegerField(allow_null=True)
    incidents = serializers.ListField(child=serializers.IntegerField())
    case = serializers.IntegerField(allow_null=True)


class SignalBatchResultSerializer(serializers.Serializer[Any]):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    results = SignalResultSerializer(many=True)


class SignalSerializer(serializers.ModelSerializer[Signal]):
    policy: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )

    class Meta:
        model = Signal
        fields = [
            "id",
            "kind",
            "severity",
            "occurred_at",
            "received_at",
            "source",
            "dedupe_key",
            "policy",
            "summary",
            "evidence",
        ]
        read_only_fields = fields


# --- cases --------------------------------------------------------------------------------------


class CaseSerializer(serializers.ModelSerializer[Case]):
    account: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="external_id", read_only=True
    )
    assignee: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    policies: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True
    )
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "account",
            "state",
            "priority",
            "assignee",
            "summary",
            "policies",
            "review_deadline",
            "overdue",
            "state_entered_at",
            "opened_by",
            "created_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = fields


class IncidentSerializer(serializers.ModelSerializer[Incident]):
    rule: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="name", read_only=True, allow_null=True
    )
    policy: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )

    class Meta:
        model = Incident
        fields = [
            "id",
            "rule",
            "kind",
            "policy",
            "severity",
            "summary",
            "first_seen",
            "last_seen",
            "signal_count",
        ]
        read_only_fields = fields


class RemediationItemSerializer(serializers.ModelSerializer[RemediationItem]):
    class Meta:
        model = RemediationItem
        fields = ["id", "position", "description", "verified_at", "verified_by"]
        read_only_fields = fields


class RemediationPlanSerializer(serializers.Serializer[Any]):
    deadline = serializers.DateTimeField()
    verified_at = serializers.DateTimeField(allow_null=True)
    items = RemediationItemSerializer(many=True)


class CaseDetailSerializer(CaseSerializer):
    incidents = IncidentSerializer(many=True, read_only=True)
    signals = serializers.SerializerMethodField()
    signal_count = serializers.SerializerMethodField()
    remediation_plan = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField()

    class Meta(CaseSerializer.Meta):
        fields = [
            *CaseSerializer.Meta.fields,
            "findings",
            "violation_confirmed",
            "incidents",
            "signal_count",
            "signals",
            "remediation_plan",
            "allowed_actions",
        ]
        read_only_fields = fields

    @extend_schema_field(SignalSerializer(many=True))
    def get_signals(self, case: Case) -> Any:
        return SignalSerializer(self.context.get("signals", []), many=True).data

    def get_signal_count(self, case: Case) -> int:
        return int(self.context.get("signal_count", 0))

    @extend_schema_field(RemediationPlanSerializer(allow_null=True))
    def get_remediation_plan(self, case: Case) -> Any:
        plan = getattr(case, "remediation_plan", None)
        if plan is None:
            return None
        return RemediationPlanSerializer(
            {"deadline": plan.deadline, "verified_at": plan.verified_at, "items": plan.items.all()}
        ).data

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=ACTION_CHOICES))
    )
    def get_allowed_actions(self, case: Case) -> list[str]:
        return list(self.context.get("allowed_actions", []))


class CaseOpenSerializer(serializers.Serializer[Any]):
    account = ExternalIdField(help_text="External id of a known account.")
    summary = serializers.CharField(max_length=MAX_TEXT)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.MEDIUM)
    policies = serializers.ListField(
        child=serializers.SlugField(max_length=64), required=False, max_length=50
    )
    report = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT)


class RemediationInSerializer(serializers.Serializer[Any]):
    items = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TEXT), min_length=1, max_length=100
    )
    deadline = StrictDateTimeField(required=False)
    deadline_days = serializers.IntegerField(required=False, min_value=1, max_value=365)


class TransitionSerializer(serializers.Serializer[Any]):
    """The action and the input it requires (workflow.md); other fields are ignored."""

    action = serializers.ChoiceField(choices=ACTION_CHOICES)
    expected_state = serializers.ChoiceField(
        choices=CaseState.choices,
        required=False,
        help_text="If the case is no longer in this state: 409 `stale_state`.",
    )
    reason = serializers.CharField(
        required=False, max_length=MAX_TEXT, help_text="suspend, dismiss"
    )
    policies = serializers.ListField(
        child=serializers.SlugField(max_length=64),
        required=False,
        max_length=50,
        help_text="suspend (required), terminate (optional): policy codes.",
    )
    scope = serializers.CharField(required=False, max_length=200, help_text="suspend")
    findings = serializers.CharField(required=False, max_length=MAX_TEXT, help_text="investigate")
    violation_confirmed = serializers.BooleanField(required=False, help_text="investigate")
    evidence = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        max_length=100,
        help_text=f"investigate: references, each nesting at most {MAX_EVIDENCE_DEPTH} objects "
        "and lists.",
    )
    remediation = RemediationInSerializer(required=False, help_text="investigate")
    verification_note = serializers.CharField(
        required=False, max_length=MAX_TEXT, help_text="remediate"
    )
    override_reason = serializers.CharField(
        required=False, max_length=MAX_TEXT, help_text="remediate (leads): skip unverified items"
    )
    rationale = serializers.CharField(required=False, max_length=MAX_TEXT, help_text="terminate")

    def validate_evidence(self, value: list[Any]) -> list[Any]:
        deep = {
            str(index): [f"May nest at most {MAX_EVIDENCE_DEPTH} objects and lists."]
            for index, item in enumerate(value)
            if json_depth_exceeds(item, MAX_EVIDENCE_DEPTH)
        }
        if deep:
            raise serializers.ValidationError(deep)
        if contains_nul(value):
            raise serializers.ValidationError("May not contain NUL characters.")
        return value


class CaseEventSerializer(serializers.ModelSerializer[CaseEvent]):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = CaseEvent
        fields = [
            "seq",
            "at",
            "actor",
            "action",
            "from_state",
            "to_state",
            "reason",
            "policy_versions",
            "data",
            "prev_hash",
            "hash",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": list(ActorKind.values)},
                "label": {"type": "string"},
                "acted_by": {
                    "type": "string",
                    "enum": [*ActedBy.values, ""],
                    "description": "A person, a person through a staff tool, or an automation; "
                    "blank on events written before this was recorded.",
                },
            },
            "required": ["kind", "label", "acted_by"],
        }
    )
    def get_actor(self, event: CaseEvent) -> dict[str, str]:
        return {"kind": event.actor_kind, "label": event.actor_label, "acted_by": event.acted_by}


class PlanItemVerifySerializer(serializers.Serializer[Any]):
    note = serializers.CharField(
        max_length=5000, allow_blank=True, required=False, help_text="What was checked."
    )
