"""What an appeal's outcome does, and who may decide it: shared by the appeal services
(``appeals``) and four-eyes approval (``approvals``), which carries out an approved lift of a
termination through :func:`appeal_outcome_apply`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from config.times import iso, iso_or_none
from core.actors import Actor, ActorKind
from core.errors import Conflict, Forbidden
from core.roles import Role, role_allows

from ..actions import AppealDecide
from ..choices import (
    APPEAL_OUTCOME_KINDS,
    AppealOutcome,
    AppealState,
    ApprovalState,
    DecisionKind,
    EventAction,
)
from ..errors import AppealNotFound, ConflictOfInterest, PersonRequired
from ..models import (
    Appeal,
    ApprovalRequest,
    Case,
    CaseEvent,
    Decision,
    EnforcementChange,
    Restriction,
)
from .decisions import Imposed, decision_make, enforcement_derive, restriction_end
from .transitions import _append_event, _lock_case

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
    or a staff tool's client with the person it named) and, for a decision made by four eyes,
    who proposed and who approved it. None of them may review or decide an appeal of it."""
    found: list[Participant] = []
    for approval in ApprovalRequest.objects.filter(
        decision=decision, state=ApprovalState.APPROVED
    ).order_by("id"):
        found.append(
            Participant(
                part="proposed",
                label=approval.proposed_by_label,
                user_id=approval.proposed_by_user_id,
                client_id=approval.proposed_by_client_id,
            )
        )
        found.append(
            Participant(
                part="approved",
                label=approval.decided_by_label,
                user_id=approval.decided_by_user_id,
                client_id=approval.decided_by_client_id,
            )
        )
    found.append(
        Participant(
            part="decided",
            label=decision.actor_label,
            user_id=decision.actor_user_id,
            client_id=decision.actor_client_id,
        )
    )
    return found


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


def check_reviewer(appeal: Appeal, actor: Actor) -> None:
    refusal = reviewer_refusal(appeal, actor)
    if refusal is not None:
        raise refusal


# --- reading ------------------------------------------------------------------------------------


def appeal_window_closes(decision: Decision) -> datetime:
    return decision.decided_at + timedelta(days=int(settings.APPEAL_WINDOW_DAYS))


def lock_appeal(appeal: Appeal | int) -> tuple[Case, Appeal]:
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


def actor_fields(prefix: str, actor: Actor) -> dict[str, Any]:
    user = actor.user if actor.user is not None and actor.user.pk else None
    return {
        f"{prefix}_kind": actor.kind,
        f"{prefix}_acted_by": actor.acted_by,
        f"{prefix}_label": actor.label,
        f"{prefix}_user": user,
        f"{prefix}_client_id": actor.client.pk if actor.client is not None else None,
    }


def notify(
    case: Case, event: CaseEvent, change: EnforcementChange | None, outcome: Decision | None
) -> None:
    from notifications.services import notices_record_for_event

    notices_record_for_event(case=case, event=event, change=change, outcome=outcome)


def appeal_outcome_apply(
    *,
    case: Case,
    appeal: Appeal,
    command: AppealDecide,
    actor: Actor,
    approval: ApprovalRequest | None = None,
) -> Decision:
    """Make the outcome decision of ``appeal`` and apply it; the caller holds the case's and the
    appeal's row locks and has checked the appeal is open and ``actor`` may decide it.
    ``approval`` is the approved request of a lifted termination, recorded on the event."""
    locked = appeal
    appealed = appeal.decision
    outcome = AppealOutcome(command.outcome)
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
    if approval is not None:
        data["approval"] = {
            "id": approval.pk,
            "proposed_by": approval.proposed_by_label,
            "proposed_at": iso(approval.proposed_at),
            "approved_by": approval.decided_by_label,
            "approved_at": iso_or_none(approval.decided_at),
        }
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
        fields.update(review_started_at=now, **actor_fields("reviewer", actor))
    Appeal.objects.filter(pk=locked.pk).update(**fields)
    notify(case, event, change, made)
    return made
