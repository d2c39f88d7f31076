"""The input of each workflow action, as one typed value.

An action's input is a frozen dataclass whose ``action`` names the move in
``cases.workflow``'s table. What a person may give is its fields; what they must give is the
fields without a default. Building one checks what needs no database: required text is present
and not blank (``MissingInput``), text fits, the shapes hold together (``InvalidInput``). What
needs the database or the clock of the transaction (policy codes, a deadline in the future, a
lead's override) is checked by ``cases.services.case_transition`` when it applies the input.

The API's per-action serializers and the admin's per-action forms each end in one of these, so
adding an input is one field here, one in the serializer and one in the form.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeAlias

from django.utils import timezone

from core.errors import InvalidInput, MissingInput

from .choices import AppealOutcome, RestrictionKind

MAX_TEXT = 20_000
MAX_REFERENCE = 500
DEADLINE_DAYS = (1, 365)
# Names of models and features are the provider's own plain strings.
NAME_MAX = 100
NAMES_MAX = 50
LIMIT_MAX = 10**9
# A restriction's end, if it has one, lies within ten years.
LONGEST = timedelta(days=3653)
PARTIAL_KINDS = (
    RestrictionKind.RATE_LIMIT,
    RestrictionKind.MODEL_BLOCK,
    RestrictionKind.FEATURE_BLOCK,
)


def _text(value: str, name: str) -> str:
    """``value`` trimmed; longer than ``MAX_TEXT`` is an ``InvalidInput``."""
    if not isinstance(value, str):
        raise InvalidInput(detail=f"'{name}' must be text.", field=name)
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(detail=f"'{name}' is longer than {MAX_TEXT} characters.", field=name)
    return value


def _texts(value: Sequence[str], name: str) -> tuple[str, ...]:
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(detail=f"'{name}' must be a list of text.", field=name)
    return tuple(value)


def _missing(command: object, names: Sequence[str], prefix: str = "") -> None:
    """Raise ``MissingInput`` naming each of ``names`` that is blank (text) or empty (a list)."""
    missing = [f"{prefix}{name}" for name in names if not getattr(command, name)]
    if missing:
        raise MissingInput(missing=missing)


def _set(command: object, name: str, value: Any) -> None:
    object.__setattr__(command, name, value)  # a frozen dataclass normalising its own input


def required_inputs(command: type[Command] | type[Evidence] | type[RemediationPlan]) -> list[str]:
    """The inputs a person must give: the fields without a default, in declaration order."""
    return [
        f.name
        for f in dataclasses.fields(command)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]


def input_names(command: type[Command]) -> list[str]:
    return [f.name for f in dataclasses.fields(command)]


# --- parts --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """A reference to evidence (a log query, a ticket, a stored object), kept at 500 characters."""

    reference: str
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.reference, str) or not isinstance(self.description, str):
            raise InvalidInput(
                detail="Evidence references and descriptions are text.", field="evidence"
            )
        _set(self, "reference", self.reference.strip()[:MAX_REFERENCE])
        if not self.reference:
            raise InvalidInput(
                detail="Each evidence entry is a reference string or {reference, description}.",
                field="evidence",
            )


@dataclass(frozen=True, kw_only=True)
class RemediationPlan:
    """The required changes and when they are due: at ``deadline``, or ``deadline_days`` after
    the investigation is recorded."""

    items: Sequence[str]
    deadline: datetime | None = None
    deadline_days: int | None = None

    def __post_init__(self) -> None:
        items = tuple(i.strip() for i in _texts(self.items, "remediation.items"))
        if not items or not all(items):
            raise InvalidInput(
                detail="'remediation.items' must be a non-empty list of required changes.",
                field="remediation.items",
            )
        _set(self, "items", items)
        if self.deadline is not None:
            if not isinstance(self.deadline, datetime) or timezone.is_naive(self.deadline):
                raise InvalidInput(
                    detail="'remediation.deadline' must be an ISO 8601 time with a time zone.",
                    field="remediation.deadline",
                )
        elif self.deadline_days is not None:
            days = self.deadline_days
            low, high = DEADLINE_DAYS
            if not isinstance(days, int) or isinstance(days, bool) or not low <= days <= high:
                raise InvalidInput(
                    detail=f"'remediation.deadline_days' must be {low} to {high}.",
                    field="remediation.deadline_days",
                )
        else:
            raise MissingInput(missing=["remediation.deadline"])


@dataclass(frozen=True, kw_only=True)
class RestrictionSpec:
    """What a decision restricts (decisions.md, Restriction), before it is imposed: a block of
    the named ``models`` or ``features``, a rate limit, or all access."""

    kind: str = RestrictionKind.SUSPENSION
    models: Sequence[str] = ()
    features: Sequence[str] = ()
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in RestrictionKind.values:
            raise InvalidInput(
                detail=f"Unknown restriction kind '{self.kind}'; one of "
                f"{', '.join(RestrictionKind.values)}.",
                field="restriction.kind",
            )
        wanted = {
            RestrictionKind.MODEL_BLOCK: "models",
            RestrictionKind.FEATURE_BLOCK: "features",
        }.get(RestrictionKind(self.kind))
        for name in ("models", "features"):
            values = _texts(getattr(self, name), f"restriction.{name}")
            values = tuple(dict.fromkeys(v.strip() for v in values))
            if len(values) > NAMES_MAX or not all(0 < len(v) <= NAME_MAX for v in values):
                raise InvalidInput(
                    detail=f"'{name}' must be at most {NAMES_MAX} names of 1 to {NAME_MAX} "
                    "characters.",
                    field=f"restriction.{name}",
                )
            if name == wanted and not values:
                raise InvalidInput(
                    detail=f"A {self.kind} names the {name} it blocks.",
                    field=f"restriction.{name}",
                )
            if name != wanted and values:
                raise InvalidInput(
                    detail=f"A {self.kind} takes no '{name}'.", field=f"restriction.{name}"
                )
            _set(self, name, values)
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is None:
                continue
            if self.kind != RestrictionKind.RATE_LIMIT:
                raise InvalidInput(
                    detail=f"A {self.kind} takes no '{name}'.", field=f"restriction.{name}"
                )
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= LIMIT_MAX:
                raise InvalidInput(
                    detail=f"'{name}' must be a whole number from 1 to {LIMIT_MAX}.",
                    field=f"restriction.{name}",
                )
        if self.kind == RestrictionKind.RATE_LIMIT and self.requests_per_minute is None:
            raise InvalidInput(
                detail="A rate_limit names its requests_per_minute.",
                field="restriction.requests_per_minute",
            )

    def as_data(self) -> dict[str, Any]:
        """The restriction's terms under the names the lookup and the feed use."""
        return {
            "kind": self.kind,
            "models": list(self.models),
            "features": list(self.features),
            "requests_per_minute": self.requests_per_minute,
            "tokens_per_minute": self.tokens_per_minute,
        }


def _end(command: Suspend | Remediate | AppealDecide) -> None:
    """A restriction lasts a ``duration`` or until ``ends_at``, not both; the duration is
    positive and at most ten years, ``ends_at`` has a time zone (the service checks it is
    ahead of the transaction's clock)."""
    duration: timedelta | None = command.duration
    ends_at: datetime | None = command.ends_at
    if duration is not None and ends_at is not None:
        raise InvalidInput(detail="Give a duration or an ends_at, not both.", field="duration")
    if duration is not None and (
        not isinstance(duration, timedelta) or not timedelta(0) < duration <= LONGEST
    ):
        raise InvalidInput(
            detail="'duration' must be positive and at most ten years (ISO 8601, e.g. P7D).",
            field="duration",
        )
    if ends_at is not None and (not isinstance(ends_at, datetime) or timezone.is_naive(ends_at)):
        raise InvalidInput(
            detail="'ends_at' must be an ISO 8601 time with a time zone.", field="ends_at"
        )


# --- the actions --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Suspend:
    """Suspend the account's API access, citing the policies breached."""

    action: ClassVar[str] = "suspend"
    reason: str
    policies: Sequence[str]
    restriction: RestrictionSpec = field(default_factory=RestrictionSpec)
    duration: timedelta | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        _set(self, "reason", _text(self.reason, "reason"))
        _set(self, "policies", tuple(dict.fromkeys(_texts(self.policies, "policies"))))
        _missing(self, ("reason", "policies"))
        if not isinstance(self.restriction, RestrictionSpec):
            raise InvalidInput(detail="'restriction' must be a restriction.", field="restriction")
        if self.restriction.kind == RestrictionKind.TERMINATION:
            raise InvalidInput(
                detail="A suspension cannot terminate; terminate after the investigation.",
                field="restriction.kind",
            )
        _end(self)


@dataclass(frozen=True, kw_only=True)
class Investigate:
    """Record the findings, the evidence, and the remediation plan if one is required."""

    action: ClassVar[str] = "investigate"
    findings: str
    violation_confirmed: bool
    evidence: Sequence[Evidence] = ()
    remediation: RemediationPlan | None = None

    def __post_init__(self) -> None:
        _set(self, "findings", _text(self.findings, "findings"))
        _missing(self, ("findings",))
        if not isinstance(self.violation_confirmed, bool):
            raise InvalidInput(
                detail="'violation_confirmed' must be true or false.", field="violation_confirmed"
            )
        evidence = tuple(self.evidence)
        if not all(isinstance(e, Evidence) for e in evidence):
            raise InvalidInput(detail="Each evidence entry must be an Evidence.", field="evidence")
        _set(self, "evidence", evidence)
        if self.remediation is not None and not self.violation_confirmed:
            raise InvalidInput(
                detail="A remediation plan needs a confirmed violation.", field="remediation"
            )


@dataclass(frozen=True, kw_only=True)
class Remediate:
    """Reinstate the account once the required changes are verified; a lead may override
    unverified plan items with a reason."""

    action: ClassVar[str] = "remediate"
    verification_note: str
    override_reason: str = ""
    restriction: RestrictionSpec | None = None  # a probation kept after reinstatement
    duration: timedelta | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        _set(self, "verification_note", _text(self.verification_note, "verification_note"))
        _set(self, "override_reason", _text(self.override_reason, "override_reason"))
        _missing(self, ("verification_note",))
        _end(self)
        if self.restriction is None:
            if self.duration is not None or self.ends_at is not None:
                raise InvalidInput(
                    detail="A duration or ends_at needs a probation restriction.",
                    field="restriction",
                )
            return
        if not isinstance(self.restriction, RestrictionSpec):
            raise InvalidInput(detail="'restriction' must be a restriction.", field="restriction")
        if self.restriction.kind not in PARTIAL_KINDS:
            raise InvalidInput(
                detail="A probation restricts part of the service: a rate_limit, a model_block "
                "or a feature_block.",
                field="restriction.kind",
            )
        if self.duration is None and self.ends_at is None:
            raise MissingInput(missing=["duration"])


@dataclass(frozen=True, kw_only=True)
class Terminate:
    """Terminate the account, optionally citing further policies."""

    action: ClassVar[str] = "terminate"
    rationale: str
    policies: Sequence[str] = field(default=())
    # A lead terminating although the investigation confirmed no violation says why.
    override_reason: str = ""

    def __post_init__(self) -> None:
        _set(self, "rationale", _text(self.rationale, "rationale"))
        _set(self, "override_reason", _text(self.override_reason, "override_reason"))
        _set(self, "policies", tuple(dict.fromkeys(_texts(self.policies, "policies"))))
        _missing(self, ("rationale",))


@dataclass(frozen=True, kw_only=True)
class Dismiss:
    """Close the case without enforcement."""

    action: ClassVar[str] = "dismiss"
    reason: str
    # Close with a warning to the account (a ``warn`` decision); nothing is restricted.
    warning: str = ""

    def __post_init__(self) -> None:
        _set(self, "reason", _text(self.reason, "reason"))
        _set(self, "warning", _text(self.warning, "warning"))
        _missing(self, ("reason",))


Command: TypeAlias = Suspend | Investigate | Remediate | Terminate | Dismiss

COMMANDS: dict[str, type[Command]] = {
    command.action: command for command in (Suspend, Investigate, Remediate, Terminate, Dismiss)
}


# --- appeals ------------------------------------------------------------------------------------

APPEAL_ATTACHMENTS_MAX = 20
SUBMITTED_BY_MAX = 200


@dataclass(frozen=True, kw_only=True)
class AppealFile:
    """An appeal of one decision, as the account (through the portal, or staff) puts it: why
    the decision is wrong, who at the customer says so, and references to what supports it."""

    reason: str
    submitted_by: str
    attachments: Sequence[str] = ()

    def __post_init__(self) -> None:
        _set(self, "reason", _text(self.reason, "reason"))
        _set(self, "submitted_by", _text(self.submitted_by, "submitted_by"))
        _missing(self, ("reason", "submitted_by"))
        if len(self.submitted_by) > SUBMITTED_BY_MAX:
            raise InvalidInput(
                detail=f"'submitted_by' is longer than {SUBMITTED_BY_MAX} characters.",
                field="submitted_by",
            )
        attachments = tuple(a.strip() for a in _texts(self.attachments, "attachments"))
        if len(attachments) > APPEAL_ATTACHMENTS_MAX or not all(
            0 < len(a) <= MAX_REFERENCE for a in attachments
        ):
            raise InvalidInput(
                detail=f"'attachments' must be at most {APPEAL_ATTACHMENTS_MAX} references or "
                f"URLs of 1 to {MAX_REFERENCE} characters.",
                field="attachments",
            )
        _set(self, "attachments", tuple(dict.fromkeys(attachments)))


@dataclass(frozen=True, kw_only=True)
class AppealDecide:
    """The outcome of an appeal: ``upheld`` (the decision stands), ``overturned`` (its
    restrictions still in force are lifted) or ``modified`` (they are replaced by
    ``restriction``, for a ``duration`` or until ``ends_at`` if given)."""

    outcome: str
    reason: str
    restriction: RestrictionSpec | None = None
    duration: timedelta | None = None
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.outcome not in AppealOutcome.values:
            raise InvalidInput(
                detail=f"'outcome' must be one of {', '.join(AppealOutcome.values)}.",
                field="outcome",
            )
        _set(self, "reason", _text(self.reason, "reason"))
        _missing(self, ("reason",))
        _end(self)
        if self.outcome != AppealOutcome.MODIFIED:
            if self.restriction is not None or self.duration or self.ends_at:
                raise InvalidInput(
                    detail=f"An appeal {self.outcome} takes no restriction; 'modified' does.",
                    field="restriction",
                )
            return
        if self.restriction is None:
            raise MissingInput(missing=["restriction"])
        if not isinstance(self.restriction, RestrictionSpec):
            raise InvalidInput(detail="'restriction' must be a restriction.", field="restriction")
        if self.restriction.kind == RestrictionKind.TERMINATION:
            raise InvalidInput(
                detail="An appeal's outcome cannot terminate; uphold a termination instead.",
                field="restriction.kind",
            )
