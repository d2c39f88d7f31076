"""Appeals of decisions (decisions.md, Appeals; DSA Art. 20): filed, reviewed, decided or
withdrawn, each under the case's row lock with an event on the case's timeline.

An appeal's outcome is a decision of its own (``appeal_upheld``, ``appeal_overturned``,
``appeal_modified``) with its statement of reasons, made as every decision is
(``decisions.decision_make``): ``overturned`` ends the appealed decision's restrictions still in
force, ``modified`` ends them and imposes the replacement, ``upheld`` changes nothing. The
account's enforcement is derived again, so the lookup, the feed and the partners follow.

Who may review and decide: someone who took no part in the appealed decision
(:func:`decision_participants`), investigator and up, a lead for a termination, and a person
(not an automation) for an automated decision.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.times import iso
from core.actors import Actor, ActorKind
from core.roles import Role

from ..actions import AppealDecide, AppealFile
from ..choices import APPEAL_OPEN_STATES, AppealOutcome, AppealState, DecisionKind, EventAction
from ..errors import (
    AppealAlreadyOpen,
    AppealNotOpen,
    AppealWindowClosed,
    DecisionNotFound,
    NotAppealable,
)
from ..models import Appeal, ApprovalRequest, Decision
from ..statements import NOT_APPEALABLE
from .appeal_outcomes import (
    NothingToModify,
    Participant,
    actor_fields,
    appeal_outcome_apply,
    appeal_window_closes,
    check_reviewer,
    decision_participants,
    lock_appeal,
    notify,
    reviewer_refusal,
)
from .approvals import lift_termination_propose
from .transitions import _append_event, _lock_case, _require_role

__all__ = [
    "NothingToModify",
    "Participant",
    "appeal_decide",
    "appeal_file",
    "appeal_review_start",
    "appeal_window_closes",
    "appeal_withdraw",
    "decision_participants",
    "reviewer_refusal",
]

FILE_MIN_ROLE = Role.ANALYST  # staff recording an appeal in the admin


# --- filing -------------------------------------------------------------------------------------


def appeal_file(*, decision: Decision | str, command: AppealFile, actor: Actor) -> Appeal:
    """File an appeal of ``decision`` (a decision or its reference), or raise and store nothing.

    Refused when the decision cannot be appealed (``not_appealable``), after its window
    (``appeal_window_closed``), or while another appeal of it is open (``appeal_already_open``;
    two filings at once end in one appeal: the case lock orders them, the partial unique index
    holds even so). The account is told it was received.
    """
    if actor.kind == ActorKind.STAFF:
        _require_role(actor, FILE_MIN_ROLE, "record appeals")
    reference = decision.reference if isinstance(decision, Decision) else decision
    found = Decision.objects.filter(reference=reference).first()
    if found is None:
        raise DecisionNotFound(detail=f"No decision '{reference}'.")
    if found.kind in NOT_APPEALABLE:
        raise NotAppealable(kind=found.kind)
    with transaction.atomic():
        case = _lock_case(found.case_id)
        now = timezone.now()
        closes = appeal_window_closes(found)
        if now > closes:
            raise AppealWindowClosed(closed_at=iso(closes))
        existing = (
            Appeal.objects.filter(decision=found, state__in=APPEAL_OPEN_STATES)
            .values_list("pk", flat=True)
            .first()
        )
        if existing is not None:
            raise AppealAlreadyOpen(appeal_id=existing)
        deadline = now + timedelta(days=int(settings.APPEAL_REVIEW_DAYS))
        try:
            with transaction.atomic():
                appeal = Appeal.objects.create(
                    decision=found,
                    case=case,
                    account_id=found.account_id,
                    state=AppealState.RECEIVED,
                    reason=command.reason,
                    submitted_by=command.submitted_by,
                    attachments=list(command.attachments),
                    filed_at=now,
                    review_deadline=deadline,
                    **actor_fields("filed_by", actor),
                )
        except IntegrityError:
            existing = (
                Appeal.objects.filter(decision=found, state__in=APPEAL_OPEN_STATES)
                .values_list("pk", flat=True)
                .first()
            )
            raise AppealAlreadyOpen(appeal_id=existing) from None
        event = _append_event(
            case=case,
            actor=actor,
            action=EventAction.APPEAL_RECEIVED,
            at=now,
            reason=command.reason,
            data={
                "appeal": appeal.pk,
                "decision": found.reference,
                "submitted_by": command.submitted_by,
                "attachments": list(command.attachments),
                "review_deadline": iso(deadline),
            },
        )
        notify(case, event, None, None)
    return appeal


# --- review -------------------------------------------------------------------------------------


def appeal_review_start(*, appeal: Appeal | int, actor: Actor, note: str = "") -> Appeal:
    """Take a received appeal into review: ``actor`` becomes its reviewer (who must be allowed
    to decide it: :func:`reviewer_refusal`)."""
    with transaction.atomic():
        case, locked = lock_appeal(appeal)
        if locked.state != AppealState.RECEIVED:
            raise AppealNotOpen(state=locked.state, what="taken into review")
        check_reviewer(locked, actor)
        now = timezone.now()
        Appeal.objects.filter(pk=locked.pk).update(
            state=AppealState.IN_REVIEW, review_started_at=now, **actor_fields("reviewer", actor)
        )
        _append_event(
            case=case,
            actor=actor,
            action=EventAction.APPEAL_REVIEW,
            at=now,
            reason=note,
            data={
                "appeal": locked.pk,
                "decision": locked.decision.reference,
                "review_deadline": iso(locked.review_deadline),
            },
        )
    locked.refresh_from_db()
    return locked


# --- deciding -----------------------------------------------------------------------------------


def appeal_decide(
    *, appeal: Appeal | int, command: AppealDecide, actor: Actor
) -> Appeal | ApprovalRequest:
    """Decide an open appeal by an outcome decision, or raise and change nothing.

    ``overturned`` and ``modified`` of a termination need a second lead: they are proposed as a
    ``lift_termination`` approval request (returned, pending; the appeal stays in review, the
    termination in force) that another lead approves (``approvals.approval_approve``). The
    account is told of the outcome with its statement of reasons and where to take the dispute
    further; a lifted restriction is also announced as an enforcement change (the reinstatement
    notice, ``enforcement.reinstated``).
    """
    with transaction.atomic():
        case, locked = lock_appeal(appeal)
        if locked.state not in APPEAL_OPEN_STATES:
            raise AppealNotOpen(state=locked.state, what="decided")
        check_reviewer(locked, actor)
        outcome = AppealOutcome(command.outcome)
        if locked.decision.kind == DecisionKind.TERMINATE and outcome != AppealOutcome.UPHELD:
            now = timezone.now()
            proposed = lift_termination_propose(
                case=case, appeal=locked, command=command, actor=actor
            )
            if not locked.reviewer_label:
                Appeal.objects.filter(pk=locked.pk).update(
                    state=AppealState.IN_REVIEW,
                    review_started_at=now,
                    **actor_fields("reviewer", actor),
                )
            return proposed
        appeal_outcome_apply(case=case, appeal=locked, command=command, actor=actor)
    locked.refresh_from_db()
    return locked


# --- withdrawing --------------------------------------------------------------------------------


def appeal_withdraw(*, appeal: Appeal | int, actor: Actor, reason: str = "") -> Appeal:
    """The account withdraws an open appeal (through the portal, or staff on its word)."""
    if actor.kind == ActorKind.STAFF:
        _require_role(actor, FILE_MIN_ROLE, "withdraw appeals")
    with transaction.atomic():
        case, locked = lock_appeal(appeal)
        if locked.state not in APPEAL_OPEN_STATES:
            raise AppealNotOpen(state=locked.state, what="withdrawn")
        now = timezone.now()
        Appeal.objects.filter(pk=locked.pk).update(state=AppealState.WITHDRAWN, withdrawn_at=now)
        _append_event(
            case=case,
            actor=actor,
            action=EventAction.APPEAL_WITHDRAWN,
            at=now,
            reason=reason,
            data={"appeal": locked.pk, "decision": locked.decision.reference},
        )
    locked.refresh_from_db()
    return locked
