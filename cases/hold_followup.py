"""Legal holds due for review: the leads are reminded ``HOLD_REVIEW_REMINDER_BEFORE`` before a
hold's review date, once per hold. Run by the deadline sweep (``cases.deadlines``).

The step is a stamp on the hold (``reminded_for``, the review date reminded of), set where it is
still empty, in the transaction that stores the notices, on rows the sweep has locked
(``skip_locked``: a concurrent sweep passes them by).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction

from notifications.choices import Channel
from notifications.models import Notice
from notifications.services import notices_save

from .models import LegalHold

EVENT_HOLD_REVIEW = "hold.review_reminder"


def _target(hold: LegalHold) -> str:
    if hold.case_id is not None:
        return f"case {hold.case_id}"
    return f"account {hold.account.external_id if hold.account else hold.account_id}"


def holds_review_remind(*, now: datetime, leads: Callable[[], list[Any]]) -> tuple[int, int]:
    """Remind the leads of every active hold whose review date is near: (holds, notices)."""
    horizon = (now + settings.HOLD_REVIEW_REMINDER_BEFORE).date()
    reminded = notices = 0
    owed = LegalHold.objects.filter(
        released_at__isnull=True, reminded_for__isnull=True, review_date__lte=horizon
    )
    # A sweep with nothing due costs this one read (no transaction, no lock).
    if not owed.exists():
        return reminded, notices
    with transaction.atomic():
        due = list(
            owed.select_for_update(skip_locked=True, of=("self",))
            .select_related("account")
            .order_by("review_date", "id")
        )
        for hold in due:
            if not LegalHold.objects.filter(pk=hold.pk, reminded_for__isnull=True).update(
                reminded_for=hold.review_date
            ):
                continue
            payload = {
                "hold": hold.pk,
                "legal_reference": hold.legal_reference,
                "target": _target(hold),
                "review_date": hold.review_date.isoformat(),
                "placed_by": hold.placed_by,
                "reason": hold.reason,
            }
            saved = notices_save(
                [
                    Notice(
                        case_id=hold.case_id,
                        account_id=hold.account_id,
                        channel=Channel.STAFF,
                        event=EVENT_HOLD_REVIEW,
                        recipient=user.email,
                        payload=payload,
                    )
                    for user in leads()
                ]
            )
            reminded += 1
            notices += len(saved)
    return reminded, notices
