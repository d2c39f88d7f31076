"""The base of every typed domain error. Each has a stable ``code`` and the HTTP status the API
answers with; ``config.problems`` turns any of them into a problem details response, and the
admin into an error message. Each app subclasses these for its own errors (``cases.errors``,
``notifications.errors``)."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refusal of the domain: what was asked cannot be done, and nothing was written."""

    code = "bad_request"
    status = 400
    title = "Bad request"

    def __init__(self, detail: str | None = None, **fields: Any) -> None:
        self.detail = detail or self.default_detail(**fields)
        self.fields = fields
        super().__init__(self.detail)

    def default_detail(self, **fields: Any) -> str:
        return self.title


class NotFound(DomainError):
    """The record named by the caller does not exist (or is not the caller's to see)."""

    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(DomainError):
    """The record is not in a state where this can happen (HTTP 409)."""

    code = "conflict"
    status = 409
    title = "Conflict"


class MissingInput(DomainError):
    code = "missing_input"
    status = 422
    title = "Missing input"

    def default_detail(self, **fields: Any) -> str:
        return "Required input missing: " + ", ".join(fields.get("missing", []))


class InvalidInput(DomainError):
    code = "invalid_input"
    status = 422
    title = "Invalid input"


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "Forbidden"
