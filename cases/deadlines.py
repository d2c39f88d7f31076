"""The deadline sweep, remediation plan reminders and the daily digest.

Each is a service that the periodic tasks of ``cases.tasks`` (and the management commands)
call with the time to act as of. None of them changes a case: they record what they sent and
the notices to send, through ``notifications.services.notices_save``.

Sending once, however often they run:

- A reminder or escalation is recorded as a ``Reminder`` row, unique on (case, deadline, kind),
  inserted in the same transaction as its notices. A second sweep (or one running at the same
  moment) fails that insert and sends nothing; a moved deadline is a new key, so it earns fresh
  reminders.
- An escalation that repeats while a case stays overdue is numbered by how many intervals have
  passed since the deadline (``escalation``, ``escalation-2``, ...), so the number depends on the
  time, not on how often the sweep ran. A sweep that was down for a while sends the current
  escalation only, not the ones it missed.
- An appeal's review deadline is swept the same way, its reminders recorded on its case with
  the kind prefixed by the appeal (``appeal:<id>:reminder``), so they too are sent once.
- A digest notice has an id derived from the recipient and the day, so a second run that day
  inserts nothing.
- The partners' follow-up of enforcement changes (``cases.partner_followup``) runs in the
  same sweep; each of its steps is a stamp on the propagation, set once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.timesince import timesince, timeuntil

from config.times import iso_or_none
from core.roles import Role
from notifications.choices import Channel
from notifications.models import Notice

from .choices import APPEAL_OPEN_STATES, ESCALATION, OPEN_STATES, CaseState, DecisionKind
from .hold_followup import holds_review_remind
from .models import Appeal, Case, Decision, RemediationItem, Reminder
from .partner_followup import partners_follow_up

logger = logging.getLogger(__name__)

REMINDER = "reminder"
PLAN_REMINDER = "plan_reminder"

EVENT_REMINDER = "deadline.reminder"
EVENT_ESCALATION = "deadline.escalation"
EVENT_DIGEST = "digest"
EVENT_PLAN_REMINDER = "plan_reminder"
EVENT_APPEAL_REMINDER = "appeal.reminder"
EVENT_APPEAL_ESCALATION = "appeal.escalation"

# Digest notice ids are uuid5(DIGEST_NAMESPACE, "<user id>:<day>"): one per person per day.
DIGEST_NAMESPACE = uuid.UUID("6f1d3c1e-8a55-4f0e-9b7e-2f6a1c0d5e41")
SUBJECT_MAX = 300


@dataclass
class SweepResult:
    reminders: int = 0
    escalations: int = 0
    notices: int = 0
    failed: int = 0
    # The partners' follow-up: reminders to partners' contacts, escalations to staff.
    partner_reminders: int = 0
    partner_escalations: int = 0
    # Legal holds due for review, of which the leads were reminded.
    hold_reminders: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def parse_now(value: str) -> datetime:
    """An ISO 8601 time with a time zone, as operators and tasks pass it; else ``ValueError``."""
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(f"not an ISO 8601 time: {value!r}")
    if timezone.is_naive(parsed):
        raise ValueError(f"time has no time zone (add Z or +00:00): {value!r}")
    return parsed


# --- which reminder is due --------------------------------------------------------------------


def escalation_kind(*, deadline: datetime, now: datetime, repeat: timedelta) -> str:
    """``escalation`` in the first interval after the deadline, then ``escalation-2``, ..."""
    number = 1 + int((now - deadline) // repeat)
    return ESCALATION if number == 1 else f"{ESCALATION}-{number}"


def due_kind(
    *, deadline: datetime, now: datetime, before: timedelta, repeat: timedelta
) -> str | None:
    """The reminder that a case with ``deadline`` is due for at ``now``, if any."""
    if now < deadline - before:
        return None
    if now < deadline:
        return REMINDER
    return escalation_kind(deadline=deadline, now=now, repeat=repeat)


def due_cases(*, now: datetime, before: timedelta) -> QuerySet[Case]:
    """Open cases whose review deadline is at most ``before`` away, or past.

    The filter matches the partial index ``case_open_deadline_idx`` (review_deadline where the
    state is open), so the read costs what the due cases cost, whatever the number of others.
    """
    return (
        Case.objects.filter(state__in=OPEN_STATES, review_deadline__lte=now + before)
        .select_related("account", "assignee", "remediation_plan")
        .order_by("review_deadline", "pk")
    )


# --- rendering --------------------------------------------------------------------------------


def _render(channel: str, event: str, context: dict[str, Any]) -> dict[str, str]:
    """Subject, text and HTML body of a notice from its templates."""
    base = f"notifications/{channel}/{event}"
    subject = " ".join(render_to_string(f"{base}_subject.txt", context).split())
    return {
        "subject": subject[:SUBJECT_MAX],
        "body_text": render_to_string(f"{base}.txt", context),
        "body_html": render_to_string(f"{base}.html", context),
    }


class _Staff:
    """Who hears of deadlines; each list is read at most once per sweep."""

    @cached_property
    def leads(self) -> list[Any]:
        from notifications.services import leads

        return [u for u in leads() if u.email]

    @cached_property
    def analysts(self) -> list[Any]:
        return self._group(Role.ANALYST)

    @cached_property
    def investigators(self) -> list[Any]:
        return self._group(Role.INVESTIGATOR)

    @staticmethod
    def _group(role: str) -> list[Any]:
        User = get_user_model()
        return list(
            User.objects.filter(is_active=True, groups__name=role)
            .exclude(email="")
            .distinct()
            .order_by("pk")
        )


def _case_context(case: Case, now: datetime) -> dict[str, Any]:
    deadline = case.review_deadline
    assert deadline is not None  # noqa: S101  # only cases with a deadline are due
    plan = getattr(case, "remediation_plan", None)
    return {
        "case": case,
        "account": case.account,
        "deadline": deadline,
        "now": now,
        "due_in": timeuntil(deadline, now) if deadline > now else "",
        "overdue_for": timesince(deadline, now) if deadline <= now else "",
        "plan": plan,
        "plan_overdue": bool(
            plan is not None and case.state == CaseState.INVESTIGATED and plan.deadline <= now
        ),
    }


def _staff_notices(
    case: Case, event: str, recipients: Iterable[Any], context: dict[str, Any], kind: str
) -> list[Notice]:
    payload = {
        "case": case.pk,
        "account": case.account.external_id,
        "kind": kind,
        "state": case.state,
        "priority": case.priority,
        "deadline": iso_or_none(case.review_deadline),
        "plan_overdue": context["plan_overdue"],
    }
    notices = []
    for user in recipients:
        rendered = _render(Channel.STAFF, event, {**context, "recipient": user, "kind": kind})
        notices.append(
            Notice(
                case=case,
                account=case.account,
                channel=Channel.STAFF,
                event=event,
                recipient=user.email,
                payload=payload,
                **rendered,
            )
        )
    return notices


def _record(
    *, case: Case, deadline: datetime, kind: str, now: datetime, notices: list[Notice]
) -> bool:
    """Record the reminder and store its notices in one transaction; ``False`` if already sent.

    The unique (case, deadline, kind) insert is the claim: a concurrent sweep waits on it and
    then fails it, rolling back to the savepoint, so exactly one of them stores the notices.
    """
    from notifications.services import notices_save

    with transaction.atomic():
        try:
            with transaction.atomic():
                Reminder.objects.create(case=case, deadline=deadline, kind=kind, sent_at=now)
        except IntegrityError:
            return False
        notices_save(notices)
    return True


def _already_sent(case_ids: Sequence[int], kinds: Iterable[str] | None = None) -> set[tuple]:
    sent = Reminder.objects.filter(case_id__in=case_ids)
    if kinds is not None:
        sent = sent.filter(kind__in=list(kinds))
    return set(sent.values_list("case_id", "deadline", "kind"))


# --- the sweep --------------------------------------------------------------------------------


def deadlines_sweep(*, now: datetime | None = None) -> SweepResult:
    """Remind before review deadlines and escalate after them, each once per deadline.

    Before the deadline (``DEADLINE_REMINDER_BEFORE``): the assignee, or all analysts if the case
    is unassigned. Once it has passed: the leads, and again every
    ``DEADLINE_ESCALATION_REPEAT`` while the case stays overdue. A remediation plan's deadline is
    the case's review deadline while it is investigated, so a plan past its deadline escalates to
    the leads for a decision here too. The partners' follow-up of enforcement changes runs here
    as well (``partners_follow_up``), and the reminders of legal holds due for review
    (``holds_review_remind``).
    """
    now = now or timezone.now()
    before: timedelta = settings.DEADLINE_REMINDER_BEFORE
    repeat: timedelta = settings.DEADLINE_ESCALATION_REPEAT
    result = SweepResult()
    staff = _Staff()
    appeals_sweep(now=now, before=before, repeat=repeat, staff=staff, result=result)
    followed = partners_follow_up(now=now, leads=lambda: staff.leads)
    result.partner_reminders = followed.reminders
    result.partner_escalations = followed.escalations
    result.notices += followed.notices
    result.failed += followed.failed
    result.hold_reminders, hold_notices = holds_review_remind(now=now, leads=lambda: staff.leads)
    result.notices += hold_notices
    cases = list(due_cases(now=now, before=before))
    if not cases:
        return result
    sent = _already_sent([c.pk for c in cases])
    for case in cases:
        try:
            _sweep_one(
                case, now=now, before=before, repeat=repeat, sent=sent, staff=staff, result=result
            )
        except Exception:
            # One case that cannot be handled (a broken template, a lost row) must not hold up
            # the reminders of all the others; it is retried by the next sweep.
            logger.exception("deadline sweep failed for case %s", case.pk)
            result.failed += 1
    return result


def _sweep_one(
    case: Case,
    *,
    now: datetime,
    before: timedelta,
    repeat: timedelta,
    sent: set[tuple],
    staff: _Staff,
    result: SweepResult,
) -> None:
    deadline = case.review_deadline
    assert deadline is not None  # noqa: S101  # the query asks for one
    kind = due_kind(deadline=deadline, now=now, before=before, repeat=repeat)
    if kind is None or (case.pk, deadline, kind) in sent:
        return
    context = _case_context(case, now)
    if kind == REMINDER:
        assignee = case.assignee
        if assignee is not None and assignee.is_active and assignee.email:
            recipients = [assignee]
        else:
            recipients = staff.analysts
        notices = _staff_notices(case, EVENT_REMINDER, recipients, context, kind)
    else:
        notices = _staff_notices(case, EVENT_ESCALATION, staff.leads, context, kind)
    if not notices:
        logger.warning("case %s: %s is due but nobody can receive it", case.pk, kind)
    if _record(case=case, deadline=deadline, kind=kind, now=now, notices=notices):
        if kind == REMINDER:
            result.reminders += 1
        else:
            result.escalations += 1
        result.notices += len(notices)


# --- appeals ----------------------------------------------------------------------------------


def due_appeals(*, now: datetime, before: timedelta) -> QuerySet[Appeal]:
    """Open appeals whose review deadline is at most ``before`` away, or past (read through the
    partial index ``appeal_open_deadline_idx``)."""
    return (
        Appeal.objects.filter(state__in=APPEAL_OPEN_STATES, review_deadline__lte=now + before)
        .select_related("account", "case", "decision", "reviewer_user")
        .order_by("review_deadline", "pk")
    )


def appeal_reminder_kind(appeal: Appeal, kind: str) -> str:
    """The ``Reminder.kind`` of an appeal's reminder or escalation, on the appeal's case."""
    return f"appeal:{appeal.pk}:{kind}"


def appeals_sweep(
    *, now: datetime, before: timedelta, repeat: timedelta, staff: _Staff, result: SweepResult
) -> None:
    """Remind before appeals' review deadlines and escalate after them, each once, as for cases:
    before, the reviewer (or, with none yet, those who may review: the leads for a
    termination's appeal, else the investigators); after, the leads, again every ``repeat``."""
    appeals = list(due_appeals(now=now, before=before))
    if not appeals:
        return
    sent = _already_sent(sorted({a.case_id for a in appeals}))
    for appeal in appeals:
        try:
            _sweep_appeal(
                appeal, now=now, before=before, repeat=repeat, sent=sent, staff=staff, result=result
            )
        except Exception:
            logger.exception("deadline sweep failed for appeal %s", appeal.pk)
            result.failed += 1


def _sweep_appeal(
    appeal: Appeal,
    *,
    now: datetime,
    before: timedelta,
    repeat: timedelta,
    sent: set[tuple],
    staff: _Staff,
    result: SweepResult,
) -> None:
    deadline = appeal.review_deadline
    kind = due_kind(deadline=deadline, now=now, before=before, repeat=repeat)
    if kind is None:
        return
    key = appeal_reminder_kind(appeal, kind)
    if (appeal.case_id, deadline, key) in sent:
        return
    if kind == REMINDER:
        reviewer = appeal.reviewer_user
        if reviewer is not None and reviewer.is_active and reviewer.email:
            recipients = [reviewer]
        elif appeal.decision.kind == DecisionKind.TERMINATE:
            recipients = staff.leads
        else:
            recipients = staff.investigators
        event = EVENT_APPEAL_REMINDER
    else:
        recipients = staff.leads
        event = EVENT_APPEAL_ESCALATION
    context = {
        "appeal": appeal,
        "account": appeal.account,
        "deadline": deadline,
        "now": now,
        "kind": kind,
        "due_in": timeuntil(deadline, now) if deadline > now else "",
        "overdue_for": timesince(deadline, now) if deadline <= now else "",
    }
    payload = {
        "appeal": appeal.pk,
        "case": appeal.case_id,
        "account": appeal.account.external_id,
        "decision": appeal.decision.reference,
        "kind": kind,
        "state": appeal.state,
        "deadline": iso_or_none(deadline),
    }
    notices = [
        Notice(
            case=appeal.case,
            account=appeal.account,
            channel=Channel.STAFF,
            event=event,
            recipient=user.email,
            payload=payload,
            **_render(Channel.STAFF, event, {**context, "recipient": user}),
        )
        for user in recipients
    ]
    if not notices:
        logger.warning("appeal %s: %s is due but nobody can receive it", appeal.pk, kind)
    if _record(case=appeal.case, deadline=deadline, kind=key, now=now, notices=notices):
        if kind == REMINDER:
            result.reminders += 1
        else:
            result.escalations += 1
        result.notices += len(notices)


# --- remediation plans ------------------------------------------------------------------------


def plan_reminders_send(*, now: datetime | None = None) -> int:
    """Remind the account's contacts of a remediation plan's deadline, once per deadline.

    Sent ``PLAN_REMINDER_BEFORE`` the deadline while any required change is unverified. The
    case's review deadline equals the plan's while it is investigated, so this reads through the
    same partial index as the sweep. Returns how many plans were reminded.
    """
    now = now or timezone.now()
    before: timedelta = settings.PLAN_REMINDER_BEFORE
    window = Q(review_deadline__gt=now, review_deadline__lte=now + before)
    cases = list(
        Case.objects.filter(window, state=CaseState.INVESTIGATED)
        .filter(remediation_plan__deadline__gt=now, remediation_plan__deadline__lte=now + before)
        .annotate(
            unverified=Count(
                "remediation_plan__items",
                filter=Q(remediation_plan__items__verified_at__isnull=True),
            )
        )
        .filter(unverified__gt=0)
        .select_related("account", "remediation_plan")
        .prefetch_related(
            Prefetch(
                "remediation_plan__items",
                queryset=RemediationItem.objects.order_by("position", "pk"),
            )
        )
        .order_by("review_deadline", "pk")
    )
    if not cases:
        return 0
    sent = _already_sent([c.pk for c in cases], kinds=[PLAN_REMINDER])
    reminded = 0
    for case in cases:
        plan = case.remediation_plan
        if (case.pk, plan.deadline, PLAN_REMINDER) in sent:
            continue
        items = list(plan.items.all())
        outstanding = [i for i in items if not i.is_verified]
        context: dict[str, Any] = {
            "case": case,
            "account": case.account,
            "plan": plan,
            "deadline": plan.deadline,
            "due_in": timeuntil(plan.deadline, now),
            "outstanding": outstanding,
            "done": [i for i in items if i.is_verified],
            "appeals_email": settings.APPEALS_EMAIL,
        }
        rendered = _render(Channel.EMAIL, EVENT_PLAN_REMINDER, context)
        payload = {
            "case": case.pk,
            "account": case.account.external_id,
            "deadline": iso_or_none(plan.deadline),
            "outstanding": [i.description for i in outstanding],
        }
        notices = [
            Notice(
                case=case,
                account=case.account,
                channel=Channel.EMAIL,
                event=EVENT_PLAN_REMINDER,
                recipient=address,
                payload=payload,
                **rendered,
            )
            for address in case.account.contacts or []
        ]
        if _record(case=case, deadline=plan.deadline, kind=PLAN_REMINDER, now=now, notices=notices):
            reminded += 1
    return reminded


# --- the daily digest -------------------------------------------------------------------------


def digest_notice_id(*, user_id: int, day: Any) -> uuid.UUID:
    return uuid.uuid5(DIGEST_NAMESPACE, f"{user_id}:{day.isoformat()}")


UNSENT_DAYS = 30


def decisions_unsent(*, now: datetime, days: int = UNSENT_DAYS) -> list[Decision]:
    """Decisions of the last ``days`` whose statement of reasons reached no one because the
    account has no contact: leads see them in their digest (and staff on the case)."""
    sent = Notice.objects.filter(statement_reference=OuterRef("reference"), channel=Channel.EMAIL)
    rows = (
        Decision.objects.filter(decided_at__gte=now - timedelta(days=days))
        .annotate(sent=Exists(sent))
        .filter(sent=False)
        .select_related("account")
        .order_by("decided_at", "id")
    )
    return [d for d in rows if not any(str(c).strip() for c in (d.account.contacts or []))]


def digests_send(*, now: datetime | None = None) -> int:
    """Send each staff member with open assigned cases one digest a day: overdue first; leads'
    digests also list the decisions whose statement reached no one (an account without
    contacts), and a lead hears of those even without open cases of their own.

    Nobody with nothing to hear of hears anything. Cases are listed by review deadline, so the
    overdue ones come first; cases without a deadline come last. Returns the digests sent.
    """
    from notifications.services import leads, notices_save

    now = now or timezone.now()
    day = timezone.localdate(now)
    cases = (
        Case.objects.filter(state__in=OPEN_STATES, assignee__isnull=False, assignee__is_active=True)
        .exclude(assignee__email="")
        .select_related("assignee", "account")
        .order_by("assignee_id", F("review_deadline").asc(nulls_last=True), "pk")
    )
    by_user: dict[int, tuple[Any, list[Case]]] = {}
    for case in cases:
        assert case.assignee is not None  # noqa: S101  # filtered above
        by_user.setdefault(case.assignee.pk, (case.assignee, []))[1].append(case)
    unsent = decisions_unsent(now=now)
    lead_ids: set[int] = set()
    if unsent:
        for lead in leads().exclude(email=""):
            lead_ids.add(lead.pk)
            by_user.setdefault(lead.pk, (lead, []))
    if not by_user:
        return 0
    ids = {pk: digest_notice_id(user_id=pk, day=day) for pk in by_user}
    done = set(Notice.objects.filter(id__in=list(ids.values())).values_list("id", flat=True))
    sent = 0
    for pk, (user, open_cases) in by_user.items():
        if ids[pk] in done:
            continue
        overdue: list[tuple[Case, str]] = []
        upcoming: list[tuple[Case, str]] = []
        for case in open_cases:
            deadline = case.review_deadline
            if deadline is not None and deadline <= now:
                overdue.append((case, timesince(deadline, now)))
            else:
                upcoming.append((case, timeuntil(deadline, now) if deadline else ""))
        unheard = unsent if pk in lead_ids else []
        context = {
            "recipient": user,
            "day": day,
            "now": now,
            "overdue": overdue,
            "upcoming": upcoming,
            "count": len(open_cases),
            "unsent": unheard,
        }
        notice = Notice(
            id=ids[pk],
            channel=Channel.STAFF,
            event=EVENT_DIGEST,
            recipient=user.email,
            payload={
                "day": day.isoformat(),
                "overdue": [str(c.pk) for c, _ in overdue],
                "upcoming": [str(c.pk) for c, _ in upcoming],
                "unsent": [d.reference for d in unheard],
            },
            **_render(Channel.STAFF, EVENT_DIGEST, context),
        )
        try:
            with transaction.atomic():
                notices_save([notice])
        except IntegrityError:  # another run stored today's digest for this person first
            continue
        sent += 1
    return sent
