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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.times import iso, iso_or_none
from core.actors import Actor, ActorKind
from core.errors import Conflict, Forbidden
from core.roles import Role, role_allows

from ..actions import AppealDecide, AppealFile
from ..choices import (
    APPEAL_OPEN_STATES,
    APPEAL_OUTCOME_KINDS,
    AppealOutcome,
    AppealState,
    DecisionKind,
    EventAction,
)
from ..errors import (
    AppealAlreadyOpen,
    AppealNotFound,
    AppealNotOpen,
    AppealWindowClosed,
    ConflictOfInterest,
    DecisionNotFound,
    FourEyesRequired,
    NotAppealable,
    PersonRequired,
)
from ..models import Appeal, Case, CaseEvent, Decision, EnforcementChange, Restriction
from ..statements import NOT_APPEALABLE
from .decisions import Imposed, decision_make, enforcement_derive, restriction_end
from .transitions import _append_event, _lock_case, _require_role

FILE_MIN_ROLE = Role.ANALYST  # staff recording an appeal in the admin
REVIEW_MIN_ROLE = Role.INVESTIGATOR
TERMINATION_REVIEW_MIN_ROLE = Role.LEAD


class NothingToModify(Conflict):
    code = "nothing_to_modify"
    title = "None of the decision's restrictions is in force"

    def default_detail(self, **fields: Any) -> str:
        return (
            "The appealed decision's restrictions have all ended: there is nothing to modify. "
            "Uphold or overturn the appeal instead."
        )


# --- who took part ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Participant:
    """Someone who took part in a decision, and how (``decided``; approvals add their own)."""

    part: str
    label: str
    user_id: int | None = None
    client_id: int | None = None


def decision_participants(decision: Decision) -> list[Participant]:
    """Everyone who took part in ``decision``: whoever decided it (a staff user, an API client,
    or a staff tool's client with the person it named). Whoever appears here may not review or
    decide an appeal of it; four-eyes approval adds the proposer and the approver."""
    return [
        Participant(
            part="decided",
            label=decision.actor_label,
            user_id=decision.actor_user_id,
            client_id=decision.actor_client_id,
        )
    ]


def _took_part(actor: Actor, decision: Decision) -> Participant | None:
    user_id = actor.user.pk if actor.user is not None and actor.user.pk else None
    client_id = actor.client.pk if actor.client is not None else None
    for participant in decision_participants(decision):
        if user_id is not None and participant.user_id == user_id:
            return participant
        if client_id is not None and participant.client_id == client_id:
            return participant
    return None


def reviewer_refusal(appeal: Appeal, actor: Actor) -> Exception | None:
    """Why ``actor`` may not review or decide ``appeal``, or ``None`` if they may: the one rule
    the services apply and the admin uses to show its buttons only to those who may."""
    decision = appeal.decision
    termination = decision.kind == DecisionKind.TERMINATE
    min_role = TERMINATION_REVIEW_MIN_ROLE if termination else REVIEW_MIN_ROLE
    if actor.kind == ActorKind.SYSTEM:
        return PersonRequired()
    if not role_allows(actor.role, min_role):
        what = "a termination's appeal" if termination else "appeals"
        return Forbidden(detail=f"Role '{actor.role or 'none'}' may not review or decide {what}.")
    if decision.automated and not actor.is_person:
        return PersonRequired()
    participant = _took_part(actor, decision)
    if participant is not None:
        return ConflictOfInterest(actor=actor.label, part=participant.part)
    return None


def _check_reviewer(appeal: Appeal, actor: Actor) -> None:
    refusal = reviewer_refusal(appeal, actor)
    if refusal is not None:
        raise refusal


# --- reading ------------------------------------------------------------------------------------


def appeal_window_closes(decision: Decision) -> datetime:
    return decision.decided_at + timedelta(days=int(settings.APPEAL_WINDOW_DAYS))


def _lock_appeal(appeal: Appeal | int) -> tuple[Case, Appeal]:
    """The appeal's case locked (as every change of the case locks it), then the appeal."""
    appeal_id = appeal.pk if isinstance(appeal, Appeal) else appeal
    case_id = Appeal.objects.filter(pk=appeal_id).values_list("case_id", flat=True).first()
    if case_id is None:
        raise AppealNotFound(detail=f"Appeal {appeal_id} does not exist.")
    case = _lock_case(case_id)
    locked = (
        Appeal.objects.select_for_update(of=("self",))
        .select_related("decision", "account")
        .get(pk=appeal_id)
    )
    return case, locked


def _actor_fields(prefix: str, actor: Actor) -> dict[str, Any]:
    user = actor.user if actor.user is not None and actor.user.pk else None
    return {
        f"{prefix}_kind": actor.kind,
        f"{prefix}_acted_by": actor.acted_by,
        f"{prefix}_label": actor.label,
        f"{prefix}_user": user,
        f"{prefix}_client_id": actor.client.pk if actor.client is not None else None,
    }


def _notify(
    case: Case, event: CaseEvent, change: EnforcementChange | None, outcome: Decision | None
) -> None:
    from notifications.services import notices_record_for_event

    notices_record_for_event(case=case, event=event, change=change, outcome=outcome)


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
                    **_actor_fields("filed_by", actor),
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
        _notify(case, event, None, None)
    return appeal


# --- review -------------------------------------------------------------------------------------


def appeal_review_start(*, appeal: Appeal | int, actor: Actor, note: str = "") -> Appeal:
    """Take a received appeal into review: ``actor`` becomes its reviewer (who must be allowed
    to decide it: :func:`reviewer_refusal`)."""
    with transaction.atomic():
        case, locked = _lock_appeal(appeal)
        if locked.state != AppealState.RECEIVED:
            raise AppealNotOpen(state=locked.state, what="taken into review")
        _check_reviewer(locked, actor)
        now = timezone.now()
        Appeal.objects.filter(pk=locked.pk).update(
            state=AppealState.IN_REVIEW, review_started_at=now, **_actor_fields("reviewer", actor)
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


def appeal_decide(*, appeal: Appeal | int, command: AppealDecide, actor: Actor) -> Appeal:
    """Decide an open appeal by an outcome decision, or raise and change nothing.

    ``overturned`` and ``modified`` of a termination need a second lead's approval
    (``four_eyes_required``). The account is told of the outcome with its statement of reasons
    and where to take the dispute further; a lifted restriction is also announced as an
    enforcement change (the reinstatement notice, ``enforcement.reinstated``).
    """
    with transaction.atomic():
        case, locked = _lock_appeal(appeal)
        if locked.state not in APPEAL_OPEN_STATES:
            raise AppealNotOpen(state=locked.state, what="decided")
        _check_reviewer(locked, actor)
        appealed = locked.decision
        outcome = AppealOutcome(command.outcome)
        if appealed.kind == DecisionKind.TERMINATE and outcome != AppealOutcome.UPHELD:
            raise FourEyesRequired()
        now = timezone.now()
        in_force = [
            r
            for r in Restriction.objects.select_for_update()
            .filter(decision=appealed, ended_by__isnull=True)
            .select_related("decision")
            .order_by("starts_at", "id")
            if r.in_force(now)
        ]
        impose: list[Imposed] = []
        end: list[Restriction] = []
        ends_at: datetime | None = None
        if outcome == AppealOutcome.OVERTURNED:
            end = in_force
        elif outcome == AppealOutcome.MODIFIED:
            if not in_force:
                raise NothingToModify()
            assert command.restriction is not None  # noqa: S101 -- AppealDecide says so
            ends_at = restriction_end(now=now, duration=command.duration, ends_at=command.ends_at)
            end = in_force
            impose = [Imposed(command.restriction, ends_at)]
        data: dict[str, Any] = {
            "appeal": locked.pk,
            "decision": appealed.reference,
            "outcome": outcome.value,
            "lifted": [r.pk for r in end],
        }
        if impose:
            data["restriction"] = impose[0].spec.as_data()
            data["ends_at"] = iso_or_none(ends_at)
        event = _append_event(
            case=case,
            actor=actor,
            action=EventAction.APPEAL_DECIDED,
            at=now,
            reason=command.reason,
            policy_versions=appealed.policy_versions,
            data=data,
        )
        made = decision_make(
            kind=APPEAL_OUTCOME_KINDS[outcome],
            case=case,
            actor=actor,
            at=now,
            reason=command.reason,
            event=event,
            policy_versions=appealed.policy_versions,
            impose=impose,
            end=end,
        )
        change = None
        if impose or end:
            change = enforcement_derive(
                account_id=case.account_id, case=case, event=event, decision=made, at=now
            )
        fields: dict[str, Any] = {
            "state": AppealState(outcome.value),
            "decided_at": now,
            "outcome": made,
            "outcome_reason": command.reason,
        }
        if not locked.reviewer_label:
            fields.update(review_started_at=now, **_actor_fields("reviewer", actor))
        Appeal.objects.filter(pk=locked.pk).update(**fields)
        _notify(case, event, change, made)
    locked.refresh_from_db()
    return locked


# --- withdrawing --------------------------------------------------------------------------------


def appeal_withdraw(*, appeal: Appeal | int, actor: Actor, reason: str = "") -> Appeal:
    """The account withdraws an open appeal (through the portal, or staff on its word)."""
    if actor.kind == ActorKind.STAFF:
        _require_role(actor, FILE_MIN_ROLE, "withdraw appeals")
    with transaction.atomic():
        case, locked = _lock_appeal(appeal)
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
