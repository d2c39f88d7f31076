"""Policies, signals, incidents, cases and their append-only timeline.

Models hold fields, constraints and cheap properties only: every change of a case goes through
``cases.services``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.choices import EnforcementStatus
from accounts.models import Account, ApiClient
from core.actors import ActedBy, ActorKind

from .audit import HASH_VERSION
from .choices import (
    APPEAL_OPEN_STATES,
    ESCALATION,
    OPEN_STATES,
    AppealState,
    ApprovalAction,
    ApprovalState,
    CaseState,
    DecisionKind,
    FlagRuleKind,
    Priority,
    RestrictionKind,
    Severity,
)

# A case's first step out of flagged (its triage), and a deadline's first escalation (its
# breach): what the dashboard's 30-day figures read, each through a small partial index.
TRIAGE_EVENTS = Q(from_state=CaseState.FLAGGED) & ~Q(to_state__in=("", CaseState.FLAGGED))
BREACHES = Q(kind=ESCALATION) | Q(kind__endswith=f":{ESCALATION}")


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete a row that is append-only."""


class AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be deleted")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be updated")


class AppendOnlyModel(models.Model):
    """Rows are inserted once and never changed or deleted through the ORM."""

    objects: ClassVar[Any] = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} {self.pk} cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{type(self).__name__} {self.pk} cannot be deleted")


class PolicyClause(models.Model):
    """A clause of the usage policy. Its text lives in versions; a decision cites one."""

    code = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.HIGH)
    current_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class PolicyVersion(AppendOnlyModel):
    """One version of a clause's text, as it was in force; never edited afterwards."""

    policy = models.ForeignKey(PolicyClause, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    text = models.TextField()
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.HIGH)
    effective_from = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["policy_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "version"], name="policy_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.policy.code} v{self.version}"

    def citation(self) -> dict[str, Any]:
        return {"code": self.policy.code, "version": self.version}


class Signal(AppendOnlyModel):
    """One observation from a detection system or a person. Immutable once stored."""

    # Indexed by signal_account_kind_idx (account first) and signal_policy_idx (cited only): an
    # index of its own for each foreign key would cost every insert and serve no query.
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="signals", db_index=False
    )
    kind = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=100)
    dedupe_key = models.CharField(max_length=200)
    # The API client that posted it; none when staff or the service did (and for signals stored
    # before signals recorded their client). Duplicates are found within one client only.
    # Indexed by signal_dedupe_client_unique, whose first column it is.
    client = models.ForeignKey(
        ApiClient,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    automated = models.BooleanField(default=True)
    policy = models.ForeignKey(
        PolicyClause,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="signals",
        db_index=False,
    )
    summary = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "source", "dedupe_key"], name="signal_dedupe_client_unique"
            ),
            models.UniqueConstraint(
                fields=["source", "dedupe_key"],
                condition=Q(client__isnull=True),
                name="signal_dedupe_no_client_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "kind", "occurred_at"], name="signal_account_kind_idx"),
            models.Index(
                fields=["policy"], name="signal_policy_idx", condition=Q(policy__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ({self.severity}) on {self.account_id}"


FLAG_RULE_WINDOW_LIMIT = timedelta(days=366)


class FlagRule(models.Model):
    """Data that turns signals into incidents; leads edit these."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=FlagRuleKind.choices)
    min_severity = models.CharField(max_length=16, choices=Severity.choices, blank=True)
    signal_kind = models.CharField(max_length=64, blank=True)
    threshold = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    # Intake looks back over the window from each batch's signals: a window of centuries would
    # reach before the calendar's start and fail every batch.
    window = models.DurationField(
        default=timedelta(hours=1),
        validators=[
            MinValueValidator(timedelta(seconds=1)),
            MaxValueValidator(FLAG_RULE_WINDOW_LIMIT),
        ],
        help_text="How far apart the signals counted together may be: 1 second to 366 days.",
    )
    policy = models.ForeignKey(
        PolicyClause, null=True, blank=True, on_delete=models.PROTECT, related_name="flag_rules"
    )
    priority = models.CharField(
        max_length=16,
        choices=Priority.choices,
        blank=True,
        help_text="Priority of the incident; blank: the worst severity among its signals.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Case(models.Model):
    """One investigation of one account."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="cases")
    state = models.CharField(max_length=16, choices=CaseState.choices, default=CaseState.FLAGGED)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.MEDIUM)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_cases",
    )
    summary = models.TextField()
    policies = models.ManyToManyField(PolicyClause, related_name="cases", blank=True)
    findings = models.TextField(blank=True)
    violation_confirmed = models.BooleanField(null=True, blank=True)
    review_deadline = models.DateTimeField(null=True, blank=True)
    state_entered_at = models.DateTimeField(default=timezone.now)
    opened_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(state__in=OPEN_STATES),
                name="one_open_case_per_account",
            )
        ]
        indexes = [
            models.Index(fields=["state", "priority"], name="case_state_priority_idx"),
            models.Index(fields=["assignee", "state"], name="case_assignee_state_idx"),
            models.Index(
                fields=["review_deadline"],
                condition=Q(state__in=OPEN_STATES),
                name="case_open_deadline_idx",
            ),
            # The dashboard's chart: cases opened and closed per day over the last 30 days.
            models.Index(fields=["created_at"], name="case_created_idx"),
            models.Index(
                fields=["closed_at"], condition=Q(closed_at__isnull=False), name="case_closed_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_overdue(self) -> bool:
        return bool(self.is_open and self.review_deadline and self.review_deadline < timezone.now())


class Incident(models.Model):
    """The signals that a flag rule grouped into one occurrence, or a person's report."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="incidents")
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents"
    )
    rule = models.ForeignKey(
        FlagRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    reported_by = models.CharField(max_length=200, blank=True, help_text="For a person's report.")
    kind = models.CharField(max_length=64)
    policy = models.ForeignKey(
        PolicyClause, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents"
    )
    severity = models.CharField(max_length=16, choices=Severity.choices)
    summary = models.TextField(blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    signal_count = models.PositiveIntegerField(default=0)
    signals: models.ManyToManyField[Signal, IncidentSignal] = models.ManyToManyField(
        Signal, through="IncidentSignal", related_name="incidents"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen"]
        indexes = [
            models.Index(fields=["account", "rule", "last_seen"], name="incident_window_idx")
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.account_id} ({self.signal_count} signals)"


class IncidentSignal(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE)
    signal = models.ForeignKey(Signal, on_delete=models.PROTECT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "signal"], name="incident_signal_unique")
        ]

    def __str__(self) -> str:
        return f"signal {self.signal_id} in incident {self.incident_id}"


class RemediationPlan(models.Model):
    """The changes an account must make before access comes back."""

    case = models.OneToOneField(Case, on_delete=models.PROTECT, related_name="remediation_plan")
    deadline = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"Plan for case {self.case_id}"


class RemediationItem(models.Model):
    plan = models.ForeignKey(RemediationPlan, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(default=0)
    description = models.TextField()
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.CharField(max_length=200, blank=True)
    verification_note = models.TextField(blank=True)

    class Meta:
        ordering = ["plan_id", "position"]

    def __str__(self) -> str:
        return self.description[:60]

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class CaseNote(AppendOnlyModel):
    """A note on a case. Never edited: a correction is a new note that ``corrects`` this one."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="notes")
    author = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    corrects = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="correction",
        help_text="The note this one replaces.",
    )

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Note by {self.author} on case {self.case_id}"


class EvidenceReference(AppendOnlyModel):
    """A pointer to evidence kept elsewhere (a log query, a ticket, a storage object).

    Never edited: a correction is a new reference that ``corrects`` this one."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="evidence")
    reference = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    added_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    corrects = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="correction",
        help_text="The reference this one replaces.",
    )

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.reference


class CaseEvent(AppendOnlyModel):
    """The timeline: one row for every change of a case, chained by hash."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    seq = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    # Blank only on events written before it was recorded.
    acted_by = models.CharField(max_length=16, choices=ActedBy.choices, blank=True, default="")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=32)
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16, blank=True)
    reason = models.TextField(blank=True)
    policy_versions = models.JSONField(default=list, blank=True)
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)
    # Which fields ``hash`` covers (cases.audit.HASHED_FIELDS); set once, when written.
    hash_version = models.PositiveSmallIntegerField(default=HASH_VERSION)

    class Meta:
        ordering = ["case_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["case", "seq"], name="case_event_seq_unique")
        ]
        indexes = [
            models.Index(fields=["at"], name="case_event_triage_idx", condition=TRIAGE_EVENTS)
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} on case {self.case_id}"


class FeedCounterManager(models.Manager["FeedCounter"]):
    def next_value(self, name: str) -> int:
        """The counter's next number. Its row stays locked until the transaction commits, so
        numbers are handed out in commit order and without gaps: a reader that follows them
        never skips a late commit."""
        if not self.filter(name=name).update(value=F("value") + 1):
            self.get_or_create(name=name)
            self.filter(name=name).update(value=F("value") + 1)
        return int(self.values_list("value", flat=True).get(name=name))


class FeedCounter(models.Model):
    """A gapless counter whose row lock orders a feed by commit: the enforcement changes'
    ``seq`` and the partners' feed."""

    ENFORCEMENT = "enforcement"
    PARTNERS = "partners"
    # Not a counter: the row that placing a legal hold and the retention purge lock.
    HOLDS = "holds"

    name = models.CharField(max_length=32, primary_key=True)
    value = models.BigIntegerField(default=0)

    objects = FeedCounterManager()

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class EnforcementChange(AppendOnlyModel):
    """A change of an account's enforcement: its status or its restrictions in force, as they
    stand after the change; ``seq`` is its position in commit order."""

    seq = models.BigIntegerField(unique=True)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="changes")
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="enforcement_changes"
    )
    event = models.ForeignKey(
        CaseEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.ForeignKey(
        "Decision", null=True, blank=True, on_delete=models.PROTECT, related_name="changes"
    )
    status = models.CharField(max_length=16, choices=EnforcementStatus.choices)
    previous_status = models.CharField(max_length=16, choices=EnforcementStatus.choices)
    policies = models.JSONField(default=list, blank=True)
    # The account's restrictions in force after the change (cases.enforcement.restriction_view).
    restrictions = models.JSONField(default=list, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.account_id}: {self.previous_status} → {self.status}"


class ReviewDeadlineRule(models.Model):
    """How long a case may stay in a state, by priority. Leads edit these."""

    state = models.CharField(max_length=16, choices=CaseState.choices)
    priority = models.CharField(max_length=16, choices=Priority.choices)
    duration = models.DurationField()

    class Meta:
        ordering = ["state", "priority"]
        constraints = [
            models.UniqueConstraint(fields=["state", "priority"], name="deadline_rule_unique")
        ]

    def __str__(self) -> str:
        return f"{self.state}/{self.priority}: {self.duration}"


class Reminder(models.Model):
    """A reminder or escalation sent for one deadline of one case; never sent twice.

    An appeal's review deadline is one of its case's deadlines, its ``kind`` prefixed with
    ``appeal:<id>:`` (``cases.deadlines``)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="reminders")
    deadline = models.DateTimeField()
    kind = models.CharField(max_length=64)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["case", "deadline", "kind"], name="reminder_once_per_deadline"
            )
        ]
        indexes = [models.Index(fields=["sent_at"], name="reminder_breach_idx", condition=BREACHES)]

    def __str__(self) -> str:
        return f"{self.kind} for case {self.case_id} (deadline {self.deadline:%Y-%m-%d %H:%M})"


class Decision(AppendOnlyModel):
    """One enforcement step (decisions.md) with its statement of reasons, made in the same
    transaction as the case change; never changed afterwards.

    ``reference`` is the statement's never-reused id (the DSA ``puid``): notices to the account
    and webhooks to partners point at it. Who decided is recorded as on timeline events; a rule
    or the system deciding alone makes an automated decision.
    """

    reference = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=24, choices=DecisionKind.choices)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="decisions")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="decisions")
    event = models.ForeignKey(
        CaseEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    decided_at = models.DateTimeField(default=timezone.now)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    acted_by = models.CharField(max_length=16, choices=ActedBy.choices)
    actor_label = models.CharField(max_length=200)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    automated = models.BooleanField(default=False, help_text="Taken by automated means alone.")
    reason = models.TextField(blank=True)
    policy_versions = models.JSONField(default=list, blank=True)
    override_reason = models.TextField(
        blank=True, help_text="Why a lead decided against the investigation's finding."
    )
    # The restrictions this decision ended (their ids), as they stood; the rows say the same.
    lifted = models.JSONField(default=list, blank=True)
    statement = models.JSONField(default=dict, blank=True, help_text="Statement of reasons.")

    class Meta:
        ordering = ["decided_at", "id"]
        indexes = [
            models.Index(fields=["case", "decided_at"], name="decision_case_idx"),
            models.Index(fields=["account", "decided_at"], name="decision_account_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.kind})"


class Restriction(models.Model):
    """What the gateway enforces, imposed by one decision; in force from ``starts_at`` until
    ``ends_at`` (open-ended if null) unless a later decision ended it first.

    Only ``ended_at`` and ``ended_by`` ever change, once: when a decision lifts or replaces the
    restriction, or when a ``restriction_expired`` decision records that it ran out.
    """

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="restrictions")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="restrictions")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="restrictions")
    kind = models.CharField(max_length=16, choices=RestrictionKind.choices)
    blocked_models = models.JSONField(default=list, blank=True)
    blocked_features = models.JSONField(default=list, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="ended"
    )

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(
                fields=["account"], condition=Q(ended_by__isnull=True), name="restriction_open_idx"
            ),
            models.Index(
                fields=["ends_at"],
                condition=Q(ended_by__isnull=True, ends_at__isnull=False),
                name="restriction_due_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="restriction_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.account_id} ({self.decision_id})"

    def in_force(self, at: datetime) -> bool:
        return (
            self.ended_by_id is None
            and self.starts_at <= at
            and (self.ends_at is None or self.ends_at > at)
        )


class ApprovalRequest(models.Model):
    """An action that needs a second person (decisions.md, Four-eyes approval), as proposed.

    ``input`` is the action's typed input (``cases.actions``) as JSON; approving it carries that
    input out through the same service a single-step action takes. ``case_state`` and
    ``case_seq`` are the case's state and last timeline event when it was proposed: a later event
    that changes the case supersedes the request (``cases.services.approvals``). Who proposed and
    who decided are recorded as on timeline events. Every change goes through
    ``cases.services.approvals``.
    """

    action = models.CharField(max_length=32, choices=ApprovalAction.choices)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="approvals")
    input = models.JSONField(default=dict, blank=True)
    state = models.CharField(
        max_length=16, choices=ApprovalState.choices, default=ApprovalState.PENDING
    )
    proposed_at = models.DateTimeField(default=timezone.now)
    proposed_by_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    proposed_by_acted_by = models.CharField(max_length=16, choices=ActedBy.choices)
    proposed_by_label = models.CharField(max_length=200)
    proposed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposed_by_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(blank=True, help_text="The proposer's rationale.")
    expires_at = models.DateTimeField()
    case_state = models.CharField(max_length=16, choices=CaseState.choices)
    case_seq = models.PositiveIntegerField(help_text="The case's last event when proposed.")
    decided_at = models.DateTimeField(
        null=True, blank=True, help_text="When it stopped being pending, for whatever reason."
    )
    decided_by_kind = models.CharField(max_length=16, choices=ActorKind.choices, blank=True)
    decided_by_acted_by = models.CharField(max_length=16, choices=ActedBy.choices, blank=True)
    decided_by_label = models.CharField(max_length=200, blank=True)
    decided_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_comment = models.TextField(blank=True, help_text="The approver's or rejecter's.")
    superseded_by = models.ForeignKey(
        CaseEvent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The timeline event that changed the case.",
    )
    decision = models.ForeignKey(
        Decision,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="approvals",
        help_text="The decision the approved action made.",
    )

    class Meta:
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(state=ApprovalState.PENDING),
                name="one_pending_approval_per_case",
            ),
            models.CheckConstraint(
                condition=Q(state=ApprovalState.PENDING) | Q(decided_at__isnull=False),
                name="approval_closed_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(state=ApprovalState.PENDING),
                name="approval_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} of case {self.case_id} ({self.state})"

    def state_at(self, at: datetime) -> str:
        """The state as of ``at``: a pending request past its ``expires_at`` is expired even
        before the sweep records it."""
        if self.state == ApprovalState.PENDING and self.expires_at <= at:
            return ApprovalState.EXPIRED
        return self.state

    @property
    def state_now(self) -> str:
        return self.state_at(timezone.now())


class Appeal(models.Model):
    """The account contesting one decision (decisions.md, Appeals; DSA Art. 20).

    Filed by the customer portal (an API client) or recorded by staff; reviewed by someone who
    took no part in the decision; decided by an outcome decision of its own
    (``appeal_upheld``, ``appeal_overturned``, ``appeal_modified``). Changed only by
    ``cases.services.appeals``. At most one appeal of a decision is open at a time.
    """

    ATTACHMENTS_MAX = 20
    ATTACHMENT_MAX = 500

    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="appeals")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="appeals")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="appeals")
    state = models.CharField(
        max_length=16, choices=AppealState.choices, default=AppealState.RECEIVED
    )
    reason = models.TextField()
    submitted_by = models.CharField(
        max_length=200, help_text="Who at the customer appealed (as the portal names them)."
    )
    attachments = models.JSONField(default=list, blank=True)
    # Who filed it: the portal's API client, or staff recording it.
    filed_by_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    filed_by_acted_by = models.CharField(max_length=16, choices=ActedBy.choices)
    filed_by_label = models.CharField(max_length=200)
    filed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    filed_by_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    filed_at = models.DateTimeField(default=timezone.now)
    review_deadline = models.DateTimeField()
    # Who reviews it, from when; the same actor decides it.
    reviewer_kind = models.CharField(max_length=16, choices=ActorKind.choices, blank=True)
    reviewer_acted_by = models.CharField(max_length=16, choices=ActedBy.choices, blank=True)
    reviewer_label = models.CharField(max_length=200, blank=True)
    reviewer_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewer_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    review_started_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    outcome = models.ForeignKey(
        Decision,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="outcome_of",
        help_text="The decision that decided the appeal.",
    )
    outcome_reason = models.TextField(blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-filed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["decision"],
                condition=Q(state__in=APPEAL_OPEN_STATES),
                name="one_open_appeal_per_decision",
            )
        ]
        indexes = [
            models.Index(
                fields=["review_deadline"],
                condition=Q(state__in=APPEAL_OPEN_STATES),
                name="appeal_open_deadline_idx",
            ),
            models.Index(fields=["state", "filed_at"], name="appeal_state_idx"),
            models.Index(fields=["case", "filed_at"], name="appeal_case_idx"),
        ]

    def __str__(self) -> str:
        return f"Appeal {self.pk} of {self.decision_id} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in APPEAL_OPEN_STATES

    @property
    def is_overdue(self) -> bool:
        return bool(self.is_open and self.review_deadline < timezone.now())


class StatementSubmission(models.Model):
    """One statement of reasons as the Transparency Database has it (docs/transparency.md):
    written by ``cases.services.statement_submissions`` when the database accepted it
    (``created``) or answered that it already held its puid (``already_present``). A puid with a
    row for an endpoint is never sent to that endpoint again."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Created"
        ALREADY_PRESENT = "already_present", "Already present"

    endpoint = models.URLField(max_length=500)
    puid = models.CharField(max_length=500)
    decision = models.ForeignKey(
        Decision, on_delete=models.PROTECT, related_name="statement_submissions"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    batch = models.UUIDField(help_text="The run of export_statements that sent it.")
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "puid"], name="statement_submission_once")
        ]

    def __str__(self) -> str:
        return f"{self.puid} at {self.endpoint} ({self.outcome})"


# Canned reasons, and evidence items with their custody, live in modules of their own (their
# docstrings say why).
from .canned_models import CannedReason as CannedReason  # noqa: E402
from .evidence_models import CustodyEvent as CustodyEvent  # noqa: E402
from .evidence_models import EvidenceItem as EvidenceItem  # noqa: E402
from .evidence_models import LegalHold as LegalHold  # noqa: E402
from .evidence_models import PurgeRecord as PurgeRecord  # noqa: E402

# Saved views of the case list: a person's own preferences (the module's docstring says more).
from .workbench_models import SavedView as SavedView  # noqa: E402
