"""Bodies of the signals and cases operations."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import ExternalIdField
from cases.actions import (
    MAX_TEXT,
    Command,
    Dismiss,
    Evidence,
    Investigate,
    Remediate,
    RemediationPlan,
    RestrictionSpec,
    Suspend,
    Terminate,
    input_names,
    required_inputs,
)
from cases.choices import CaseState, Priority, RestrictionKind, Severity
from cases.intake.validation import MAX_BATCH
from cases.models import Case, CaseEvent, Incident, RemediationItem, Signal
from cases.workflow import ACTIONS
from config.api import (
    NO_NUL_PATTERN,
    NONBLANK_PATTERN,
    SlugTextField,
    StrictBooleanField,
    StrictDateTimeField,
    StrictIntegerField,
    StrictSerializer,
    TextField,
)
from config.limits import MAX_EVIDENCE_DEPTH
from core.actors import ActedBy, ActorKind
from core.errors import MissingInput

ACTION_CHOICES = [(a, a) for a in ACTIONS]


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "Any JSON object of at most 64 KiB encoded, nesting at most "
        f"{MAX_EVIDENCE_DEPTH} objects and lists; numbers must be finite; no string in it, key "
        "or value, may hold a NUL character (the body is then a 422).",
    }
)
class EvidenceField(serializers.DictField):
    """Free-form evidence of a signal (checked by ``cases.intake``)."""


# --- signals ------------------------------------------------------------------------------------


class SignalInSerializer(StrictSerializer):
    """One signal in a batch (validated by ``cases.intake``; this describes it)."""

    account = ExternalIdField()
    kind = TextField(max_length=64, help_text="e.g. `rate_limit_exceeded`.")
    severity = serializers.ChoiceField(choices=Severity.choices)
    occurred_at = StrictDateTimeField()
    source = TextField(max_length=100)  # type: ignore[assignment]  # DRF pops fields
    dedupe_key = TextField(
        max_length=200,
        help_text="Unique per source among your API client's signals: posting it again answers "
        "`duplicate`. Other clients' keys are never matched.",
    )
    policy = TextField(
        max_length=64, required=False, allow_null=True, help_text="A known policy's code."
    )
    summary = TextField(required=False, allow_blank=True, max_length=MAX_TEXT)
    evidence = EvidenceField(required=False)


class SignalBatchSerializer(StrictSerializer):
    signals = SignalInSerializer(
        many=True,
        min_length=1,  # type: ignore[call-arg]  # ListSerializer takes them; the stubs lag
        max_length=MAX_BATCH,
        help_text="1 to 1,000 signals.",
    )


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


class CaseOpenSerializer(StrictSerializer):
    account = ExternalIdField(help_text="External id of a known account.")
    summary = TextField(max_length=MAX_TEXT)
    priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.MEDIUM)
    policies = serializers.ListField(
        child=SlugTextField(max_length=64), required=False, max_length=50
    )
    report = TextField(required=False, allow_blank=True, max_length=MAX_TEXT)


class RemediationInSerializer(StrictSerializer):
    items = serializers.ListField(
        child=TextField(max_length=MAX_TEXT), min_length=1, max_length=100
    )
    deadline = StrictDateTimeField(
        required=False, help_text="In the future; or give `deadline_days`."
    )
    deadline_days = StrictIntegerField(required=False, min_value=1, max_value=365)

    def as_input(self, value: dict[str, Any]) -> RemediationPlan:
        return RemediationPlan(**value)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "minLength": 1, "pattern": NONBLANK_PATTERN},
            {
                "type": "object",
                "properties": {
                    "reference": {"type": "string", "minLength": 1, "pattern": NONBLANK_PATTERN},
                    "description": {"type": "string", "pattern": NO_NUL_PATTERN},
                },
                "required": ["reference"],
                "additionalProperties": False,
            },
        ]
    }
)
class EvidenceEntryField(serializers.Field):
    """A reference (``"logs://query/123"``), or ``{"reference", "description"?}``."""

    default_error_messages = {
        # Braces doubled: DRF formats the message.
        "invalid": "Each evidence entry is a reference string or {{reference, description}}."
    }

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and data.strip():
            return data
        if (
            isinstance(data, dict)
            and data.keys() <= {"reference", "description"}
            and isinstance(data.get("reference"), str)
            and data["reference"].strip()
            and isinstance(data.get("description", ""), str)
        ):
            return data
        self.fail("invalid")

    def to_representation(self, value: Any) -> Any:
        return value

    def as_input(self, value: str | dict[str, str]) -> Evidence:
        return Evidence(reference=value) if isinstance(value, str) else Evidence(**value)


def _as_input(field: Any, value: Any) -> Any:
    """A validated value as the input type's part: a nested body or list entry that knows its
    input type (``as_input``) becomes it; anything else is passed as it is."""
    if isinstance(field, serializers.ListField):
        return [_as_input(field.child, v) for v in value]
    as_input = getattr(field, "as_input", None)
    return as_input(value) if as_input is not None else value


class TransitionBodySerializer(StrictSerializer):
    """One action's body: ``action``, the action's input type's fields, and what every action
    may carry besides. ``to_command`` makes the input type of ``cases.actions``."""

    command: ClassVar[type[Command]]

    expected_state = serializers.ChoiceField(
        choices=CaseState.choices,
        required=False,
        help_text="If the case is no longer in this state: 409 `stale_state`.",
    )

    def missing_inputs(self) -> list[str]:
        """The input type's required inputs that the body leaves absent, null or blank."""
        data = self.initial_data
        return [
            name
            for name in required_inputs(self.command)
            if data.get(name) is None or (isinstance(data[name], str) and not data[name].strip())
        ]

    def to_command(self) -> Command:
        """The validated body as the action's input type (which checks the domain's rules)."""
        names = set(input_names(self.command))
        return self.command(
            **{
                name: _as_input(self.fields[name], value)
                for name, value in self.validated_data.items()
                if name in names
            }
        )


def _action(command: type[Command]) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=[(command.action, command.action)])


class RestrictionInSerializer(StrictSerializer):
    """What to restrict (decisions.md, Restriction); the service checks that the fields fit the
    kind (names for a block, a limit for a rate limit)."""

    kind = serializers.ChoiceField(choices=RestrictionKind.choices)
    models = serializers.ListField(
        child=TextField(max_length=100), required=False, max_length=50, help_text="model_block"
    )
    features = serializers.ListField(
        child=TextField(max_length=100), required=False, max_length=50, help_text="feature_block"
    )
    requests_per_minute = StrictIntegerField(
        min_value=1, max_value=10**9, required=False, help_text="rate_limit"
    )
    tokens_per_minute = StrictIntegerField(
        min_value=1, max_value=10**9, required=False, help_text="rate_limit (optional)"
    )

    def as_input(self, value: dict[str, Any]) -> RestrictionSpec:
        return RestrictionSpec(**value)


@extend_schema_field({"type": "string", "example": "P7D", "maxLength": 64})
class IsoDurationField(serializers.DurationField):
    """An ISO 8601 duration (``P7D``, ``PT12H``) as a ``timedelta``."""

    default_error_messages = {
        "invalid": "Must be an ISO 8601 duration, e.g. P7D or PT12H.",
        "max_value": "Must be at most ten years.",
        "min_value": "Must be positive.",
        "overflow": "Must be at most ten years.",
    }

    def to_internal_value(self, value: Any) -> Any:
        if (
            not isinstance(value, str)
            or len(value) > 64
            or not value.upper().startswith(("P", "-P"))
        ):
            self.fail("invalid")
        return super().to_internal_value(value)


def _duration() -> IsoDurationField:
    return IsoDurationField(
        required=False,
        help_text="How long the restriction lasts, ISO 8601 (e.g. `P7D`, `PT12H`); or give "
        "`ends_at`. Neither: until a decision ends it.",
    )


def _ends_at() -> StrictDateTimeField:
    return StrictDateTimeField(required=False, help_text="When the restriction ends by itself.")


class SuspendSerializer(TransitionBodySerializer):
    """Suspend the account's API access: `flagged` to `suspended`."""

    command = Suspend
    action = _action(Suspend)
    reason = TextField(max_length=MAX_TEXT)
    policies = serializers.ListField(
        child=SlugTextField(max_length=64),
        min_length=1,
        max_length=50,
        help_text="Codes of the policies breached (each must exist).",
    )
    restriction = RestrictionInSerializer(
        required=False,
        help_text="Default a full `suspension`; a `rate_limit`, `model_block` or "
        "`feature_block` restricts part of the service (status `restricted`).",
    )
    duration = _duration()
    ends_at = _ends_at()


class InvestigateSerializer(TransitionBodySerializer):
    """Record the investigation's findings: `suspended` to `investigated`."""

    command = Investigate
    action = _action(Investigate)
    findings = TextField(max_length=MAX_TEXT)
    violation_confirmed = StrictBooleanField()
    evidence = serializers.ListField(child=EvidenceEntryField(), required=False, max_length=100)
    remediation = RemediationInSerializer(
        required=False,
        help_text="Required changes and their deadline; needs a confirmed violation.",
    )


class RemediateSerializer(TransitionBodySerializer):
    """Reinstate once the required changes are verified: `investigated` to `remediated`."""

    command = Remediate
    action = _action(Remediate)
    verification_note = TextField(max_length=MAX_TEXT)
    override_reason = TextField(
        max_length=MAX_TEXT,
        required=False,
        allow_blank=True,
        help_text="Leads: remediate although plan items are unverified.",
    )
    restriction = RestrictionInSerializer(
        required=False,
        help_text="A probation kept after reinstatement (`rate_limit`, `model_block` or "
        "`feature_block`); needs a `duration` or `ends_at`.",
    )
    duration = _duration()
    ends_at = _ends_at()


class TerminateSerializer(TransitionBodySerializer):
    """Terminate the account (leads): `investigated` to `terminated`."""

    command = Terminate
    action = _action(Terminate)
    rationale = TextField(max_length=MAX_TEXT)
    policies = serializers.ListField(
        child=SlugTextField(max_length=64), required=False, max_length=50
    )
    override_reason = TextField(
        max_length=MAX_TEXT,
        required=False,
        help_text="Leads: terminate although the investigation found no violation; on the "
        "record. Without it that is a 409 `violation_not_confirmed`.",
    )


class DismissSerializer(TransitionBodySerializer):
    """Close without enforcement: `flagged` or `investigated` to `dismissed`."""

    command = Dismiss
    action = _action(Dismiss)
    reason = TextField(max_length=MAX_TEXT)
    warning = TextField(
        max_length=MAX_TEXT,
        required=False,
        help_text="Close with a warning: the account gets a notice with a statement of "
        "reasons, and nothing is restricted (a `warn` decision).",
    )


TRANSITION_BODIES: dict[str, type[TransitionBodySerializer]] = {
    body.command.action: body
    for body in (
        SuspendSerializer,
        InvestigateSerializer,
        RemediateSerializer,
        TerminateSerializer,
        DismissSerializer,
    )
}

TransitionSerializer = PolymorphicProxySerializer(
    component_name="Transition",
    serializers=dict[str, serializers.Serializer[Any] | type[serializers.Serializer[Any]]](
        TRANSITION_BODIES
    ),
    resource_type_field_name="action",
)


def transition_body(data: Any) -> tuple[Command, str | None]:
    """The action's input and the ``expected_state`` of a transition body, chosen by its
    ``action``; raises ``MissingInput`` naming each required input that is absent or blank,
    else a 422 naming each bad field, else the input type's own refusal."""
    if not isinstance(data, dict):
        raise serializers.ValidationError({"non_field_errors": ["The body must be an object."]})
    action = data.get("action")
    body_class = TRANSITION_BODIES.get(action) if isinstance(action, str) else None
    if body_class is None:
        raise serializers.ValidationError(
            {"action": [f"Must be one of {', '.join(ACTIONS)}."]}, code="invalid_choice"
        )
    body = body_class(data=data)
    missing = body.missing_inputs()
    if missing:
        raise MissingInput(missing=missing)
    body.is_valid(raise_exception=True)
    return body.to_command(), body.validated_data.get("expected_state")


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


class PlanItemVerifySerializer(StrictSerializer):
    note = TextField(
        max_length=5000, allow_blank=True, required=False, help_text="What was checked."
    )
