"""Typed errors of notices and webhook endpoints, on the domain errors of ``core.errors`` so
that the API's one exception handler maps them to problem details."""

from __future__ import annotations

from typing import Any

from core.errors import Conflict, InvalidInput, NotFound


class NoticeNotFound(NotFound):
    """The notice named by the caller does not exist."""


class EndpointNotFound(NoticeNotFound):
    pass


class WebhookUrlRefused(InvalidInput):
    """The URL is not http(s), does not resolve, or points at a private network."""

    code = "webhook_url_refused"
    title = "Webhook URL refused"

    def __init__(self, detail: str | None = None, **fields: Any) -> None:
        fields.setdefault("field", "url")
        super().__init__(detail, **fields)


class RedeliveryNotAllowed(Conflict):
    code = "redelivery_not_allowed"
    title = "Notice cannot be redelivered now"

    def default_detail(self, **fields: Any) -> str:
        return f"The notice is {fields.get('status')}; only delivered or failed notices are resent."


class ChangeNotFound(NotFound):
    """The enforcement change is not in the partner's feed (or does not exist): a partner key
    cannot tell another partner's changes from changes that never were."""

    code = "change_not_found"
    title = "Change not found"

    def default_detail(self, **fields: Any) -> str:
        return f"Change {fields.get('seq')} is not in your feed."


class AlreadyReported(Conflict):
    """A different report of a change that was already reported: a report is final."""

    code = "already_reported"
    title = "Already reported"
