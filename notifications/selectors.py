"""Reads of the notice history."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from cases.models import Case

from .errors import NoticeNotFound
from .models import DeliveryAttempt, Notice


def case_notices_list(case_id: Any) -> QuerySet[Notice]:
    """A case's notices, oldest first, each with its delivery attempts (``attempts_log``).

    Raises ``NoticeNotFound`` (404) if the case does not exist.
    """
    try:
        exists = Case.objects.filter(pk=case_id).exists()
    except (ValueError, TypeError):
        exists = False
    if not exists:
        raise NoticeNotFound(detail=f"Case {case_id} does not exist.")
    return (
        Notice.objects.filter(case_id=case_id)
        .select_related("endpoint")
        .prefetch_related(
            Prefetch("attempts_log", queryset=DeliveryAttempt.objects.order_by("at", "id"))
        )
        .order_by("created_at", "id")
    )


def statement_deliveries(*, reference: str) -> list[dict[str, Any]]:
    """The e-mails that carried the statement ``reference``: to whom, and how delivery went."""
    return [
        {"recipient": recipient, "event": event, "status": status}
        for recipient, event, status in Notice.objects.filter(
            statement_reference=reference, channel="email"
        )
        .order_by("id")
        .values_list("recipient", "event", "status")
    ]
