"""Partners follow suit, followed up (partners.md "Follow-up"): a partner that has not
acknowledged an enforcement change ``PARTNER_ACK_HOURS`` after it was sent is reminded at its
contact address, and after twice that the case's assignee and the leads are told; the same for
its report after ``PARTNER_REPORT_DAYS``. Run by the deadline sweep (``cases.deadlines``).

Each step happens once: it is a stamp on the propagation (``ack_reminded_at``,
``ack_escalated_at``, ``report_reminded_at``, ``report_escalated_at``), set in the transaction
that stores the step's notices, on rows the sweep has locked (``skip_locked``: a concurrent
sweep passes them by) and only where it is still empty. A reported propagation needs nothing;
an undeliverable one is followed up too (the contact address is another way to the partner);
a partner without a contact address is not reminded, and its escalation says so.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.urls import reverse

from config.times import duration_human, iso, iso_or_none
from notifications.choices import Channel, FollowUp
from notifications.models import Notice, Propagation
from notifications.propagations import partner_urls
from notifications.rendering import notice_render
from notifications.selectors import followup_window, propagation_overdue_q, propagations_open
from notifications.services import leads as all_leads
from notifications.services import notices_save

logger = logging.getLogger(__name__)

EVENT_PARTNER_REMINDER: dict[str, str] = {
    FollowUp.ACK: "partner.ack_reminder",
    FollowUp.REPORT: "partner.report_reminder",
}
EVENT_PARTNER_OVERDUE = "partner.overdue"
PARTNER_BATCH = 200


@dataclass
class FollowUpResult:
    reminders: int = 0
    escalations: int = 0
    notices: int = 0
    failed: int = 0


@dataclass(frozen=True)
class _Step:
    """One step of the follow-up: the reminder to the partner (at once the window) or the
    escalation to staff (at twice), stamped in ``stamp``."""

    owed: str  # FollowUp
    escalate: bool
    stamp: str

    def due_q(self, now: datetime) -> Q:
        due = Q(**{f"{self.stamp}__isnull": True}) & propagation_overdue_q(
            self.owed, now=now, times=2 if self.escalate else 1
        )
        # A partner without a contact address is not reminded (the escalation says so).
        return due if self.escalate else due & ~Q(partner__contact_email="")


STEPS = (
    _Step(FollowUp.ACK, False, "ack_reminded_at"),
    _Step(FollowUp.ACK, True, "ack_escalated_at"),
    _Step(FollowUp.REPORT, False, "report_reminded_at"),
    _Step(FollowUp.REPORT, True, "report_escalated_at"),
)


def due_propagations(*, now: datetime) -> QuerySet[Propagation]:
    """Open propagations with a follow-up step due, oldest first, each annotated ``due_<stamp>``.

    Read through the partial index ``propagation_open_idx``: its predicate (not reported) and a
    bound on ``created_at`` (the shorter window) come first, the steps' own tests filter that.
    """
    shortest = min(followup_window(FollowUp.ACK), followup_window(FollowUp.REPORT))
    any_due = Q()
    for step in STEPS:
        any_due |= step.due_q(now)
    return (
        propagations_open()
        .filter(any_due, created_at__lte=now - shortest)
        .annotate(
            **{
                f"due_{step.stamp}": ExpressionWrapper(step.due_q(now), output_field=BooleanField())
                for step in STEPS
            }
        )
        .select_related("partner", "account", "change", "case", "case__assignee")
        .order_by("created_at", "pk")
    )


def partners_follow_up(
    *, now: datetime, leads: Callable[[], list[Any]] | None = None
) -> FollowUpResult:
    """Remind partners that owe an acknowledgement or a report, then tell staff (partners.md).

    ``leads`` gives the leads who hear of escalations (the deadline sweep passes the list it
    has read already); it is called once, and only if an escalation is due.

    A batch at a time: its rows read, then locked and read again (a row another sweep holds
    is passed by, one it has done since is no longer due), their notices rendered (a row whose
    notices cannot be rendered is left for the next sweep and counted failed), then one
    conditional UPDATE per step and one insert of the notices, in one transaction: a constant
    number of queries per batch.
    """
    result = FollowUpResult()
    leads = functools.cache(leads or (lambda: [u for u in all_leads() if u.email]))
    passed: set[int] = set()  # failed here, or held by another sweep: not this sweep's
    while True:
        # Which rows, unlocked first: a sweep with nothing due costs this one read.
        ids = list(
            due_propagations(now=now)
            .exclude(pk__in=sorted(passed))
            .values_list("pk", flat=True)[:PARTNER_BATCH]
        )
        if not ids:
            return result
        with transaction.atomic():
            rows = list(
                due_propagations(now=now)
                .filter(pk__in=ids)
                .select_for_update(of=("self",), skip_locked=True)
            )
            passed.update(set(ids) - {p.pk for p in rows})
            claims: dict[str, list[int]] = {step.stamp: [] for step in STEPS}
            notices: list[Notice] = []
            for propagation in rows:
                steps = [s for s in STEPS if getattr(propagation, f"due_{s.stamp}")]
                try:
                    made = [
                        n
                        for s in steps
                        for n in _followup_notices(propagation, s, steps, now, leads)
                    ]
                    for notice in made:
                        notice_render(notice)
                except Exception:
                    logger.exception("partner follow-up failed for propagation %s", propagation.pk)
                    passed.add(propagation.pk)
                    result.failed += 1
                    continue
                for step in steps:
                    claims[step.stamp].append(propagation.pk)
                    if step.escalate:
                        result.escalations += 1
                    else:
                        result.reminders += 1
                notices += made
            for stamp, claimed in claims.items():
                if claimed:
                    Propagation.objects.filter(pk__in=claimed, **{f"{stamp}__isnull": True}).update(
                        **{stamp: now}
                    )
            notices_save(notices)
            result.notices += len(notices)
        if len(ids) < PARTNER_BATCH:
            return result


def _followup_notices(
    propagation: Propagation,
    step: _Step,
    steps: list[_Step],
    now: datetime,
    leads: Callable[[], list[Any]],
) -> list[Notice]:
    """The reminder to the partner's contact, or the staff e-mails of an escalation (``steps``
    are all those due now: a sweep that was down may send a reminder and its escalation at
    once, and the escalation says the partner is being reminded)."""
    change, partner, account = propagation.change, propagation.partner, propagation.account
    payload: dict[str, Any] = {
        "propagation": propagation.pk,
        "partner": partner.code,
        "partner_name": partner.name,
        "change": change.seq,
        "account": account.external_id,
        "status": change.status,
        "changed_at": iso(change.at),
        "made_at": iso(propagation.created_at),
        "state": propagation.state,
        "owed": step.owed,
        "waiting_for": duration_human(now - propagation.created_at),
        **partner_urls(change.seq),
    }
    if not step.escalate:
        return [
            Notice(
                case=propagation.case,
                account=account,
                channel=Channel.EMAIL,
                event=EVENT_PARTNER_REMINDER[step.owed],
                recipient=partner.contact_email,
                payload=payload,
            )
        ]
    reminder = next(s for s in STEPS if s.owed == step.owed and not s.escalate)
    reminded = now if reminder in steps else getattr(propagation, reminder.stamp)
    case = propagation.case
    if case is not None:
        admin_path = reverse("admin:cases_case_change", args=[case.pk])
    else:
        admin_path = reverse("admin:accounts_account_change", args=[account.pk])
    payload.update(
        {
            "case": propagation.case_id,
            "account_name": account.name or account.external_id,
            "reminded_at": iso_or_none(reminded),
            "no_contact": not partner.contact_email,
            "contact_email": partner.contact_email,
            "undeliverable_reason": propagation.undeliverable_reason,
            "admin_path": admin_path,
        }
    )
    recipients: dict[int, Any] = {}
    assignee = case.assignee if case is not None else None
    if assignee is not None and assignee.is_active and assignee.email:
        recipients[assignee.pk] = assignee
    for lead in leads():
        recipients.setdefault(lead.pk, lead)
    if not recipients:
        logger.warning(
            "propagation %s: an escalation is due but nobody can receive it", propagation.pk
        )
    return [
        Notice(
            case=case,
            account=account,
            channel=Channel.STAFF,
            event=EVENT_PARTNER_OVERDUE,
            recipient=user.email,
            payload={**payload, "staff_name": user.get_full_name() or user.get_username()},
        )
        for user in recipients.values()
    ]
