"""Typed domain errors. Each has a stable ``code`` and the HTTP status the API answers with."""

from __future__ import annotations

from typing import Any


class CaseError(Exception):
    code = "case_error"
    status = 400
    title = "Case error"

    def __init__(self, detail: str | None = None, **fields: Any) -> None:
        self.detail = detail or self.default_detail(**fields)
        self.fields = fields
        super().__init__(self.detail)

    def default_detail(self, **fields: Any) -> str:
        return self.title


class CaseNotFound(CaseError):
    """The case (or a record of it) named by the caller does not exist."""

    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(CaseError):
    """The case is not in a state where this can happen (HTTP 409)."""

    code = "conflict"
    status = 409
    title = "Conflict"


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


class MissingInput(CaseError):
    code = "missing_input"
    status = 422
    title = "Missing input"

    def default_detail(self, **fields: Any) -> str:
        return "Required input missing: " + ", ".join(fields.get("missing", []))


class InvalidInput(CaseError):
    code = "invalid_input"
    status = 422
    title = "Invalid input"


class Forbidden(CaseError):
    code = "forbidden"
    status = 403
    title = "Forbidden"
