"""Legal holds: placing one on an account or a case, and releasing it (leads only).

A hold's content never changes and its release is recorded once (``cases.guards``); released
holds stay on the record. A hold on a case, and one on an account for each of its cases, is an
event on that case's timeline. While a hold is active, nothing of its account or case is purged
(``cases.retention``).
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from core.actors import Actor
from core.errors import InvalidInput, MissingInput
from core.roles import Role

from ..choices import EventAction
from ..errors import HoldNotFound, HoldReleased
from ..models import Case, FeedCounter, LegalHold
from .transitions import _append_event, _lock_case, _require_role, _text

LEGAL_REFERENCE_MAX = LegalHold._meta.get_field("legal_reference").max_length or 200


def _hold_cases(hold: LegalHold) -> list[int]:
    if hold.case_id is not None:
        return [hold.case_id]
    cases = Case.objects.filter(account=hold.account).order_by("id")
    return list(cases.values_list("id", flat=True))


def _record(hold: LegalHold, action: str, actor: Actor, reason: str) -> None:
    """The hold on the timeline of each case it covers, each case locked in id order."""
    data = {
        "hold": hold.pk,
        "legal_reference": hold.legal_reference,
        "review_date": hold.review_date.isoformat(),
        "on": "case" if hold.case_id is not None else "account",
    }
    for case_id in _hold_cases(hold):
        locked = _lock_case(case_id)
        _append_event(
            case=locked, actor=actor, action=action, at=timezone.now(), reason=reason, data=data
        )


def legal_hold_place(
    *,
    actor: Actor,
    reason: str,
    legal_reference: str,
    review_date: date,
    account: Account | None = None,
    case: Case | int | None = None,
) -> LegalHold:
    """Place a hold on ``account`` or on ``case`` (exactly one), to be reviewed by
    ``review_date`` (today or later)."""
    _require_role(actor, Role.LEAD, "place a legal hold")
    if (account is None) == (case is None):
        raise InvalidInput(detail="A hold is on an account or on a case.", field="account")
    reason = _text({"reason": reason}, "reason")
    legal_reference = _text({"legal_reference": legal_reference}, "legal_reference")
    if len(legal_reference) > LEGAL_REFERENCE_MAX:
        raise InvalidInput(
            detail=f"'legal_reference' is longer than {LEGAL_REFERENCE_MAX} characters.",
            field="legal_reference",
        )
    if not isinstance(review_date, date):
        raise MissingInput(missing=["review_date"])
    if review_date < timezone.localdate():
        raise InvalidInput(detail="'review_date' must not be in the past.", field="review_date")
    with transaction.atomic():
        holds_lock()
        case_id = None
        if case is not None:
            case_id = _lock_case(case).pk
        user = actor.user if actor.user is not None and actor.user.pk else None
        hold = LegalHold.objects.create(
            account=account,
            case_id=case_id,
            reason=reason,
            legal_reference=legal_reference,
            review_date=review_date,
            placed_by=actor.label,
            placed_by_user=user,
        )
        _record(hold, EventAction.HOLD_PLACED, actor, reason)
    return hold


def legal_hold_release(*, hold: LegalHold | int, reason: str, actor: Actor) -> LegalHold:
    """Release an active hold, on the record: who, when and why."""
    _require_role(actor, Role.LEAD, "release a legal hold")
    reason = _text({"reason": reason}, "reason")
    hold_id = hold.pk if isinstance(hold, LegalHold) else hold
    with transaction.atomic():
        locked = LegalHold.objects.select_for_update().filter(pk=hold_id).first()
        if locked is None:
            raise HoldNotFound(detail=f"Legal hold {hold_id} does not exist.")
        now = timezone.now()
        released = LegalHold.objects.filter(pk=locked.pk, released_at__isnull=True).update(
            released_at=now, released_by=actor.label, release_reason=reason
        )
        if not released:
            raise HoldReleased()
        locked.refresh_from_db()
        _record(locked, EventAction.HOLD_RELEASED, actor, reason)
    return locked


def holds_lock() -> None:
    """The lock that placing a hold and each transaction of the retention purge take first
    (``cases.services.retention``): a hold placed while a purge runs waits for the purge's
    current transaction, and the purge's next one sees it. Inside the caller's transaction."""
    FeedCounter.objects.select_for_update().get_or_create(name=FeedCounter.HOLDS)
