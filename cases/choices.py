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


class Role(models.TextChoices):
    ANALYST = "analyst", "Analyst"
    INVESTIGATOR = "investigator", "Investigator"
    LEAD = "lead", "Lead"
    AUDITOR = "auditor", "Auditor"


class ActorKind(models.TextChoices):
    STAFF = "staff", "Staff"
    API_CLIENT = "api_client", "API client"
    SYSTEM = "system", "System"


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
    EVIDENCE = "evidence", "Evidence added"
    INCIDENT = "incident", "Incident attached"
    PLAN_ITEM_VERIFIED = "plan_item_verified", "Plan item verified"
    PLAN_DEADLINE = "plan_deadline", "Plan deadline changed"
    DEADLINE = "deadline", "Review deadline moved"
