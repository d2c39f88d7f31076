"""Typed errors of cases, on the domain errors of ``core.errors``."""

from __future__ import annotations

from typing import Any

from core.errors import Conflict, DomainError, Forbidden, NotFound


class CaseError(DomainError):
    """A case operation failed for a reason no more specific error names."""

    code = "case_error"
    title = "Case error"


class CaseNotFound(NotFound):
    """The case (or a record of it) named by the caller does not exist."""


class TransitionNotAllowed(Conflict):
    code = "transition_not_allowed"
    title = "Transition not allowed"

    def default_detail(self, **fields: Any) -> str:
        return f"Cannot {fields.get('action')} a case that is {fields.get('state')}."


class StaleState(Conflict):
    code = "stale_state"
    title = "The case changed"

    def default_detail(self, **fields: Any) -> str:
        return (
            f"This case changed while you were looking: it is {fields.get('actual')}, "
            f"not {fields.get('expected')}."
        )


class CaseAlreadyOpen(Conflict):
    code = "case_already_open"
    title = "The account already has an open case"

    def default_detail(self, **fields: Any) -> str:
        return f"Account already has open case {fields.get('case_id')}."


class PlanNotVerified(Conflict):
    code = "plan_not_verified"
    title = "Remediation plan not verified"

    def default_detail(self, **fields: Any) -> str:
        return (
            f"{fields.get('unverified')} remediation item(s) are not verified; a lead may "
            "override with a reason."
        )


class ViolationNotConfirmed(Conflict):
    code = "violation_not_confirmed"
    title = "No violation was confirmed"

    def default_detail(self, **fields: Any) -> str:
        return (
            "The investigation found no violation, so the account cannot be terminated; a lead "
            "may override with an override_reason, which goes on the record."
        )


class PlanClosed(Conflict):
    """A remediation plan changes (items verified, deadline moved) only while its case is
    investigated."""

    code = "plan_closed"
    title = "The remediation plan is closed"

    def default_detail(self, **fields: Any) -> str:
        return (
            f"The case is {fields.get('state')}: its remediation plan changes only while the "
            "case is investigated."
        )


class ApprovalNotFound(NotFound):
    """No approval request by that id."""


class ApprovalAlreadyPending(Conflict):
    code = "approval_pending"
    title = "An approval is already pending"

    def default_detail(self, **fields: Any) -> str:
        return (
            f"Case {fields.get('case_id')} already has a pending approval request; approve or "
            "reject it first."
        )


class ApprovalNotPending(Conflict):
    code = "approval_not_pending"
    title = "The approval request is no longer pending"

    def default_detail(self, **fields: Any) -> str:
        return f"This approval request is {fields.get('state')}; nothing was applied."


class ApprovalExpired(ApprovalNotPending):
    code = "approval_expired"
    title = "The approval request expired"

    def default_detail(self, **fields: Any) -> str:
        return (
            f"This approval request expired at {fields.get('expires_at')}; propose the action "
            "again."
        )


class ApprovalSuperseded(ApprovalNotPending):
    code = "approval_superseded"
    title = "The case changed since the proposal"

    def default_detail(self, **fields: Any) -> str:
        return (
            "The case changed after this action was proposed, so the request is superseded; "
            "propose it again on the case as it is now."
        )


class SelfApproval(Forbidden):
    code = "self_approval"
    title = "You proposed this action"

    def default_detail(self, **fields: Any) -> str:
        return "A different lead must approve or reject what you proposed (four eyes)."


class DecisionNotFound(NotFound):
    """The decision named by the caller (by its reference) does not exist."""


class AppealNotFound(NotFound):
    """The appeal named by the caller does not exist."""


class NotAppealable(Conflict):
    code = "not_appealable"
    title = "This decision cannot be appealed"

    def default_detail(self, **fields: Any) -> str:
        return f"A {fields.get('kind')} decision cannot be appealed: it restricts nothing."


class AppealWindowClosed(Conflict):
    code = "appeal_window_closed"
    title = "The appeal window has closed"

    def default_detail(self, **fields: Any) -> str:
        return f"This decision could be appealed until {fields.get('closed_at')}."


class AppealAlreadyOpen(Conflict):
    code = "appeal_already_open"
    title = "Another appeal of this decision is open"

    def default_detail(self, **fields: Any) -> str:
        return (
            f"Appeal {fields.get('appeal_id')} of this decision is still open; it is decided "
            "(or withdrawn) before another can be filed."
        )


class AppealNotOpen(Conflict):
    code = "appeal_not_open"
    title = "The appeal is not open for this"

    def default_detail(self, **fields: Any) -> str:
        return f"The appeal is {fields.get('state')}: it cannot be {fields.get('what')}."


class ConflictOfInterest(Forbidden):
    code = "conflict_of_interest"
    title = "You took part in the appealed decision"

    def default_detail(self, **fields: Any) -> str:
        return (
            "The appeal is reviewed by someone who took no part in the decision appealed; "
            f"{fields.get('actor')} did ({fields.get('part')})."
        )


class PersonRequired(Forbidden):
    code = "person_required"
    title = "A person decides this appeal"

    def default_detail(self, **fields: Any) -> str:
        return (
            "The appealed decision was automated: a person reviews and decides its appeal "
            "(a staff member, or a staff tool naming one with Acting-User), not an automation."
        )


class EvidenceNotFound(NotFound):
    """The evidence item named by the caller does not exist."""

    code = "evidence_not_found"
    title = "Evidence not found"


class EvidenceCorrupted(CaseError):
    """The stored content no longer matches the hash recorded when it was acquired."""

    code = "evidence_corrupted"
    status = 409
    title = "Evidence content does not match its hash"


class HoldNotFound(NotFound):
    code = "hold_not_found"
    title = "Legal hold not found"


class HoldReleased(Conflict):
    """The hold was released already (by someone else, perhaps): a release is recorded once."""

    code = "hold_released"
    title = "The legal hold is released already"


class SavedViewNotFound(NotFound):
    """No saved view of the caller's has this id (another person's is not theirs to see)."""

    code = "saved_view_not_found"
    title = "Saved view not found"

    def default_detail(self, **fields: Any) -> str:
        return f"You have no saved view #{fields.get('view_id', '')}."


class SavedViewNameTaken(Conflict):
    code = "saved_view_name_taken"
    title = "A saved view of yours has this name already"

    def default_detail(self, **fields: Any) -> str:
        return (
            f'You have a saved view named "{fields.get("name", "")}" already: choose another '
            "name, or delete that view first."
        )
