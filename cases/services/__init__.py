"""The only code that changes a case (and the policies, rules and canned reasons cases are
decided by).

Every function here runs in one transaction: it locks what it decides on, checks the actor's
role and the input, writes the change, appends one timeline event, recomputes the account's
enforcement status and records the notices to send. Notices are dispatched only after commit.
Failures raise the typed errors of ``cases.errors`` and leave everything as it was.
"""

from .appeals import (
    appeal_decide,
    appeal_file,
    appeal_review_start,
    appeal_withdraw,
    decision_participants,
    reviewer_refusal,
)
from .approvals import (
    approval_approve,
    approval_propose,
    approval_reject,
    approvals_sweep,
    case_act,
)
from .canned_reasons import canned_reason_deactivate, canned_reason_save
from .decisions import enforcement_derive, restrictions_expire
from .edits import (
    case_assign,
    case_evidence_add,
    case_evidence_correct,
    case_note_add,
    case_note_correct,
    case_priority_set,
)
from .plans import plan_deadline_set, plan_item_verify, plan_items_verify
from .policies import policy_revise
from .rules import flag_rule_delete, flag_rule_save, review_deadline_rule_save
from .transitions import (
    case_incident_attach,
    case_open,
    case_transition,
    incident_route,
    policies_resolve,
    review_deadline_for,
)

__all__ = [
    "appeal_decide",
    "appeal_file",
    "appeal_review_start",
    "appeal_withdraw",
    "approval_approve",
    "approval_propose",
    "approval_reject",
    "approvals_sweep",
    "canned_reason_deactivate",
    "canned_reason_save",
    "case_act",
    "case_assign",
    "case_evidence_add",
    "case_evidence_correct",
    "case_incident_attach",
    "case_note_add",
    "case_note_correct",
    "case_open",
    "case_priority_set",
    "case_transition",
    "decision_participants",
    "enforcement_derive",
    "flag_rule_delete",
    "flag_rule_save",
    "incident_route",
    "plan_deadline_set",
    "plan_item_verify",
    "plan_items_verify",
    "policies_resolve",
    "policy_revise",
    "restrictions_expire",
    "review_deadline_for",
    "review_deadline_rule_save",
    "reviewer_refusal",
]
