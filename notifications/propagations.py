"""Partners follow suit: every announced enforcement change is tracked, per partner of the
account, until the partner says what it did (partners.md).

A ``Propagation`` is made in the transaction that records the change, next to the webhooks
that announce it, and so is the one of a partner that gains a channel to a restricted account
(it is sent the account's current state at once). Its state moves on as the webhooks are
delivered (``propagations_delivered``), as the endpoint gives up (``propagations_undeliverable``),
and as the partner acknowledges and reports through the partner API.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Partner
from cases.models import EnforcementChange, FeedCounter
from core.errors import InvalidInput

from .choices import (
    REPORTED_STATES,
    UNACKNOWLEDGED_STATES,
    NoticeStatus,
    PartnerOutcome,
    PropagationState,
    PropagationTrigger,
)
from .errors import AlreadyReported, ChangeNotFound
from .models import Notice, Propagation

logger = logging.getLogger(__name__)

REFERENCE_MAX = 200
NOTE_MAX = 2000
# Notices of a propagation that may still reach the partner, or did.
_LIVE = (
    NoticeStatus.PENDING,
    NoticeStatus.SENDING,
    NoticeStatus.RETRYING,
    NoticeStatus.DELIVERED,
)


def partner_urls(seq: int) -> dict[str, str]:
    """Where a partner acknowledges and reports enforcement change ``seq``."""
    base = f"{settings.SITE_URL.rstrip('/')}/api/v1/partner/changes/{seq}"
    return {"acknowledge_url": f"{base}/acknowledge", "report_url": f"{base}/report"}


def propagations_record(
    *,
    change: EnforcementChange,
    webhooks: list[Notice],
    partners: Iterable[Partner],
    trigger: str = PropagationTrigger.CHANGE,
) -> list[Propagation]:
    """One propagation per partner in ``partners`` for ``change``, in the caller's transaction,
    each tied to the partner's webhooks among ``webhooks`` (not yet saved). A partner with no
    active endpoint subscribed to the event is ``undeliverable`` from the start: staff see at
    once that it will not hear of the change by webhook (its contact is still reminded)."""
    made = []
    for partner in sorted(partners, key=lambda p: p.pk):
        own = [
            n for n in webhooks if n.endpoint is not None and n.endpoint.partner_id == partner.pk
        ]
        propagation = Propagation(
            seq=FeedCounter.objects.next_value(FeedCounter.PARTNERS),
            change=change,
            partner=partner,
            account_id=change.account_id,
            case_id=change.case_id,
            trigger=trigger,
            created_at=timezone.now(),
        )
        if not own:
            propagation.state = PropagationState.UNDELIVERABLE
            propagation.undeliverable_reason = "no active webhook endpoint for this event"
        propagation.save()
        for notice in own:
            notice.propagation = propagation
        made.append(propagation)
    return made


def propagations_delivered(*, ids: Iterable[int | None], at: datetime) -> int:
    """A webhook of each propagation got a 2xx: ``delivered`` (a propagation that had been
    given up on becomes ``delivered`` too: the partner has it now)."""
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return 0
    return Propagation.objects.filter(
        pk__in=ids, state__in=(PropagationState.PENDING, PropagationState.UNDELIVERABLE)
    ).update(state=PropagationState.DELIVERED, delivered_at=at, undeliverable_reason="")


def propagations_undeliverable(*, ids: Iterable[int | None], reason: str) -> int:
    """The propagations whose webhooks all ended without reaching the partner (failed after
    every retry, or stopped by a 410) become ``undeliverable``; one with a webhook still on
    its way or delivered keeps its state."""
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return 0
    live = Notice.objects.filter(propagation=OuterRef("pk"), status__in=_LIVE)
    return (
        Propagation.objects.filter(pk__in=ids, state=PropagationState.PENDING)
        .exclude(Exists(live))
        .update(state=PropagationState.UNDELIVERABLE, undeliverable_reason=reason[:300])
    )


def propagations_resumed(*, ids: Iterable[int | None]) -> int:
    """Their webhooks go out again (an endpoint enabled again): ``pending`` once more."""
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return 0
    return Propagation.objects.filter(pk__in=ids, state=PropagationState.UNDELIVERABLE).update(
        state=PropagationState.PENDING, undeliverable_reason=""
    )


# --- the partner API ------------------------------------------------------------------------


def _own(partner: Partner, seq: Any) -> Propagation:
    """The partner's propagation of change ``seq``, locked; ``ChangeNotFound`` for any other."""
    try:
        seq = int(seq)
    except (TypeError, ValueError):
        raise ChangeNotFound(seq=seq) from None
    found = (
        Propagation.objects.select_for_update()
        .filter(partner=partner, change__seq=seq)
        .select_related("change", "partner", "account")
        .first()
    )
    if found is None:
        raise ChangeNotFound(seq=seq)
    return found


def propagation_acknowledge(*, partner: Partner, seq: Any) -> Propagation:
    """The partner has received change ``seq``. Idempotent: the first time is kept."""
    with transaction.atomic():
        propagation = _own(partner, seq)
        if propagation.acknowledged_at is None:
            now = timezone.now()
            propagation.acknowledged_at = now
            fields = ["acknowledged_at"]
            if propagation.state in UNACKNOWLEDGED_STATES:
                propagation.state = PropagationState.ACKNOWLEDGED
                propagation.undeliverable_reason = ""
                fields += ["state", "undeliverable_reason"]
            if propagation.delivered_at is None:
                # It got there, whatever the delivery log says (another endpoint, the feed).
                propagation.delivered_at = now
                fields.append("delivered_at")
            propagation.save(update_fields=fields)
            logger.info("partner %s acknowledged change %s", partner.code, seq)
    return propagation


def propagation_report(
    *, partner: Partner, seq: Any, outcome: str, reference: str = "", note: str = ""
) -> tuple[Propagation, bool]:
    """What the partner did about change ``seq``: ``applied`` or ``declined``, with its own
    reference and a note. A report is final: the same report again changes nothing
    (``(propagation, False)``), a different one is ``AlreadyReported``."""
    if outcome not in PartnerOutcome.values:
        raise InvalidInput(
            detail=f"outcome must be one of {', '.join(PartnerOutcome.values)}.", field="outcome"
        )
    reference, note = (reference or "").strip(), (note or "").strip()
    with transaction.atomic():
        propagation = _own(partner, seq)
        if propagation.state in REPORTED_STATES:
            same = (propagation.state, propagation.partner_reference, propagation.note) == (
                outcome,
                reference,
                note,
            )
            if not same:
                raise AlreadyReported(
                    detail=f"Change {propagation.change.seq} was reported {propagation.state}"
                    + (
                        f" ({propagation.partner_reference})"
                        if propagation.partner_reference
                        else ""
                    )
                    + f" at {propagation.reported_at:%Y-%m-%dT%H:%M:%SZ}; a report is final."
                )
            return propagation, False
        now = timezone.now()
        propagation.state = outcome
        propagation.reported_at = now
        propagation.partner_reference = reference[:REFERENCE_MAX]
        propagation.note = note[:NOTE_MAX]
        propagation.undeliverable_reason = ""
        propagation.acknowledged_at = propagation.acknowledged_at or now
        propagation.delivered_at = propagation.delivered_at or now
        propagation.save()
        logger.info("partner %s reported change %s %s", partner.code, seq, outcome)
    return propagation, True


def partner_feed(*, partner: Partner, after: int, limit: int) -> tuple[list[Propagation], bool]:
    """The partner's propagations after place ``after``, in commit order; whether more follow."""
    rows = list(
        Propagation.objects.filter(partner=partner, seq__gt=after)
        .select_related("change", "change__decision", "account")
        .order_by("seq")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit
