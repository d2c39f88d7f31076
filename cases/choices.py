from django.db import models


class CaseState(models.TextChoices):
    FLAGGED = "flagged", "Flagged"
    SUSPENDED = "suspended", "Suspended"
    INVESTIGATED = "investigated", "Investigated"
    REMEDIATED = "remediated", "Remediated"
    TERMINATED = "terminated", "Terminated"
    DISMISSED = "dismissed", "Dismissed"


OPEN_STATES = (CaseState.FLAGGED, CaseState.SUSPENDED, CaseState.INVESTIGATED)
TERMINAL_STATES = (CaseState.REMEDIATED, CaseState.TERMINATED, CaseState.DISMISSED)


class Priority(models.TextChoices):
    CRITICAL = "critical", "Critical"
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


# Lower is more urgent; used for ordering queues and for "worst incident wins".
PRIORITY_RANK = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}

# Signal and policy severities share the priority vocabulary.
Severity = Priority


class SignalKind(models.TextChoices):
    """Signal kinds the detection systems send, each with the words a statement of reasons uses
    for it: what the account holder did, never how we detect it.

    ``Signal.kind`` stays free text (a pipeline may send a kind not listed here); such a kind is
    worded from its code (:func:`signal_kind_wording`). Add a kind here before a pipeline sends it.
    """

    RATE_LIMIT_EXCEEDED = "rate_limit_exceeded", "Requests above the account's rate limit"
    PROMPT_VOLUME = "prompt_volume", "An unusually high volume of prompts"
    KEY_SHARED = "key_shared", "Use of the account's API keys by people outside the account"
    POLICY_CLASSIFIER_HIT = (
        "policy_classifier_hit",
        "Requests whose content breaches the usage policy",
    )
    DISTILLATION_PATTERN = (
        "distillation_pattern",
        "Requests collecting model outputs in a pattern used to train other models",
    )
    COMPETING_MODEL_DEVELOPMENT = (
        "competing_model_development",
        "Use of model outputs to develop a competing model",
    )


def signal_kind_wording(kind: str) -> str:
    """How a statement of reasons names signals of ``kind``: its label, else its code in words."""
    if kind in SignalKind.values:
        return str(SignalKind(kind).label)
    words = " ".join(kind.replace("_", " ").replace("-", " ").split())
    return words[:1].upper() + words[1:] if words else "Other activity"


class FlagRuleKind(models.TextChoices):
    SEVERITY_AT_LEAST = "severity_at_least", "Any signal of at least a severity"
    COUNT_IN_WINDOW = "count_in_window", "N signals of a kind within a window"
    POLICY_CITED = "policy_cited", "Any signal citing a policy"


class EventAction(models.TextChoices):
    OPEN = "open", "Opened"
    SUSPEND = "suspend", "Suspended"
    INVESTIGATE = "investigate", "Investigated"
    REMEDIATE = "remediate", "Remediated"
    TERMINATE = "terminate", "Terminated"
    DISMISS = "dismiss", "Dismissed"
    ASSIGN = "assign", "Assigned"
    PRIORITY = "priority", "Priority changed"
    NOTE = "note", "Note added"
    NOTE_CORRECTED = "note_corrected", "Note corrected"
    EVIDENCE = "evidence", "Evidence added"
    EVIDENCE_CORRECTED = "evidence_corrected", "Evidence corrected"
    EVIDENCE_FILE = "evidence_file", "Evidence file added"
    INCIDENT = "incident", "Incident attached"
    PLAN_ITEM_VERIFIED = "plan_item_verified", "Plan item verified"
    PLAN_DEADLINE = "plan_deadline", "Plan deadline changed"
    DEADLINE = "deadline", "Review deadline moved"
    RESTRICTION_EXPIRED = "restriction_expired", "Restriction ended by itself"
    APPROVAL_REQUESTED = "approval_requested", "Approval requested"
    APPROVAL_APPROVED = "approval_approved", "Approval given"
    APPROVAL_REJECTED = "approval_rejected", "Approval refused"
    APPEAL_RECEIVED = "appeal_received", "Appeal received"
    APPEAL_REVIEW = "appeal_review", "Appeal review started"
    APPEAL_DECIDED = "appeal_decided", "Appeal decided"
    APPEAL_WITHDRAWN = "appeal_withdrawn", "Appeal withdrawn"
    LINK_FALSE_POSITIVE = "link_false_positive", "Account link marked false positive"
    HOLD_PLACED = "hold_placed", "Legal hold placed"
    HOLD_RELEASED = "hold_released", "Legal hold released"
    PURGED = "purged", "Purged past retention"


class EvidenceKind(models.TextChoices):
    """Where an evidence item came from."""

    UPLOAD = "upload", "Uploaded (staff or an API client)"
    SNAPSHOT = "snapshot", "Snapshot frozen by the service at a decision"


class CustodyAction(models.TextChoices):
    """What was done with an evidence item: each one a custody event (chain of custody)."""

    ACQUIRED = "acquired", "Acquired"
    VIEWED = "viewed", "Viewed"
    DOWNLOADED = "downloaded", "Downloaded"
    EXPORTED = "exported", "Exported"
    # Earlier custody events deleted past their retention: the range and the last one's hash.
    PURGED = "purged", "Earlier events purged past retention"


class RestrictionKind(models.TextChoices):
    """What the gateway enforces (decisions.md); most severe first."""

    TERMINATION = "termination", "Termination (all access, for good)"
    SUSPENSION = "suspension", "Suspension (all API access)"
    MODEL_BLOCK = "model_block", "Model block (the named models)"
    FEATURE_BLOCK = "feature_block", "Feature block (the named features)"
    RATE_LIMIT = "rate_limit", "Rate limit"


# Kinds that refuse every request; the others restrict some.
BLOCKING_KINDS = (RestrictionKind.TERMINATION, RestrictionKind.SUSPENSION)


class DecisionKind(models.TextChoices):
    SUSPEND = "suspend", "Suspend"
    RESTRICT = "restrict", "Restrict"
    TERMINATE = "terminate", "Terminate"
    REINSTATE = "reinstate", "Reinstate"
    WARN = "warn", "Warn"
    APPEAL_UPHELD = "appeal_upheld", "Appeal upheld"
    APPEAL_OVERTURNED = "appeal_overturned", "Appeal overturned"
    APPEAL_MODIFIED = "appeal_modified", "Appeal modified"
    RESTRICTION_EXPIRED = "restriction_expired", "Restriction expired"


class ApprovalAction(models.TextChoices):
    """The actions that need a second person (decisions.md, Four-eyes approval)."""

    TERMINATE = "terminate", "Terminate the account"
    LIFT_TERMINATION = "lift_termination", "Lift a termination (an appeal's outcome)"


class ApprovalState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    SUPERSEDED = "superseded", "Superseded (the case changed)"


# Timeline events that do not change what an approver decides on: commentary, routing, and the
# approval's own events. Any other event after a proposal supersedes it (ADR 0012).
APPROVAL_NEUTRAL_EVENTS = (
    EventAction.NOTE,
    EventAction.NOTE_CORRECTED,
    EventAction.ASSIGN,
    EventAction.DEADLINE,
    EventAction.APPROVAL_REQUESTED,
    EventAction.APPROVAL_APPROVED,
    EventAction.APPROVAL_REJECTED,
    EventAction.HOLD_PLACED,
    EventAction.HOLD_RELEASED,
)


class AppealState(models.TextChoices):
    RECEIVED = "received", "Received"
    IN_REVIEW = "in_review", "In review"
    UPHELD = "upheld", "Upheld"
    OVERTURNED = "overturned", "Overturned"
    MODIFIED = "modified", "Modified"
    WITHDRAWN = "withdrawn", "Withdrawn"


# An appeal still to be decided; a decision has at most one such appeal at a time.
APPEAL_OPEN_STATES = (AppealState.RECEIVED, AppealState.IN_REVIEW)


class AppealOutcome(models.TextChoices):
    UPHELD = "upheld", "Upheld: the decision stands"
    OVERTURNED = "overturned", "Overturned: its restrictions are lifted"
    MODIFIED = "modified", "Modified: its restrictions are replaced"


# The decision kind that records each outcome.
APPEAL_OUTCOME_KINDS = {
    AppealOutcome.UPHELD: DecisionKind.APPEAL_UPHELD,
    AppealOutcome.OVERTURNED: DecisionKind.APPEAL_OVERTURNED,
    AppealOutcome.MODIFIED: DecisionKind.APPEAL_MODIFIED,
}

# The kind of a deadline's first escalation (``cases.deadlines``): a case's, or an appeal's
# (``appeal:<id>:escalation``). A deadline is breached when it is sent; later escalations of the
# same deadline (``escalation-2``...) repeat it.
ESCALATION = "escalation"
