"""Four-eyes approval (decisions.md): an action that needs a second person is proposed, then
approved or rejected by a different one, or it expires, or the case changes under it.

``case_act`` is what the API and the admin call for every workflow action a person or a client
takes: an action in ``FOUR_EYES_ACTIONS`` becomes a pending ``ApprovalRequest`` (checked exactly
as carrying it out would be, and nothing else written), any other goes straight to
``case_transition``. Approving carries the stored input out through ``case_transition``, so the
decision, the restrictions, the change feed, the notices and the webhooks are those of a
single-step action; the request then points at the decision it made (ADR 0012).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.dateparse import parse_datetime, parse_duration
from django.utils.duration import duration_iso_string

from config.times import iso
from core.actors import Actor
from core.errors import Forbidden, InvalidInput
from core.roles import Role, role_allows

from ..actions import COMMANDS, MAX_TEXT, AppealDecide, Command, RestrictionSpec, Terminate
from ..choices import (
    APPEAL_OPEN_STATES,
    APPROVAL_NEUTRAL_EVENTS,
    ApprovalAction,
    ApprovalState,
    EventAction,
)
from ..errors import (
    AppealNotOpen,
    ApprovalAlreadyPending,
    ApprovalExpired,
    ApprovalNotFound,
    ApprovalNotPending,
    ApprovalSuperseded,
    SelfApproval,
    StaleState,
)
from ..models import Appeal, ApprovalRequest, Case, CaseEvent, Decision, Reminder
from ..workflow import FOUR_EYES_ACTIONS, check_transition
from .appeal_outcomes import actor_fields, appeal_outcome_apply, check_reviewer, reviewer_refusal
from .transitions import _append_event, _lock_case, case_transition, transition_check

logger = logging.getLogger(__name__)

APPROVER_ROLE = Role.LEAD
REMINDER_KIND = "approval_reminder"

# The input type of each workflow action that needs four eyes. ``lift_termination`` (an appeal's
# outcome that overturns or modifies a termination) carries an ``AppealDecide`` and its appeal
# (``lift_termination_propose``, ``lift_input_of``).
APPROVAL_INPUTS: dict[str, type[Command]] = {ApprovalAction.TERMINATE: Terminate}


# --- the stored input -------------------------------------------------------------------------


def input_as_json(command: Command) -> dict[str, Any]:
    """The action's input as JSON: its fields, sequences as lists."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, datetime):
            return iso(value)
        return value

    return {f.name: plain(getattr(command, f.name)) for f in dataclasses.fields(command)}


def input_of(approval: ApprovalRequest) -> Command:
    """The stored input as its type again (which checks it once more)."""
    command_type = APPROVAL_INPUTS.get(approval.action) or COMMANDS[approval.action]
    return command_type(**approval.input)


# --- who -------------------------------------------------------------------------------------


def is_proposer(approval: ApprovalRequest, actor: Actor) -> bool:
    """Whether ``actor`` is the one who proposed: the same person (a staff user, in the admin
    or through a staff tool), or the same API client where either side named no person (who
    stood behind a client acting on its own is unknown, so nobody through it may approve)."""
    user_id = actor.user.pk if actor.user is not None else None
    client_id = actor.client.pk if actor.client is not None else None
    if user_id is not None and approval.proposed_by_user_id is not None:
        return bool(user_id == approval.proposed_by_user_id)
    return client_id is not None and client_id == approval.proposed_by_client_id


def may_decide(approval: ApprovalRequest, actor: Actor) -> bool:
    """Whether ``actor`` may approve or reject ``approval`` now (what the admin offers). Lifting
    a termination is also an appeal's decision: whoever took part in the termination may not."""
    if not (
        approval.state_now == ApprovalState.PENDING
        and role_allows(actor.role, APPROVER_ROLE)
        and not is_proposer(approval, actor)
    ):
        return False
    if approval.action == ApprovalAction.LIFT_TERMINATION:
        appeal_id = (approval.input or {}).get("appeal")
        appeal = (
            Appeal.objects.select_related("decision").filter(pk=appeal_id).first()
            if isinstance(appeal_id, int)
            else None
        )
        return appeal is not None and reviewer_refusal(appeal, actor) is None
    return True


def other_leads(approval: ApprovalRequest) -> Any:
    """The active leads who could approve: every lead but the proposing person."""
    from notifications.services import leads

    users = leads()
    if approval.proposed_by_user_id is not None:
        users = users.exclude(pk=approval.proposed_by_user_id)
    return users


def other_lead_exists(user: Any) -> bool:
    """Whether a lead besides ``user`` exists to approve what ``user`` proposes."""
    from notifications.services import leads

    return bool(leads().exclude(pk=getattr(user, "pk", None)).exists())


def _view(approval: ApprovalRequest) -> dict[str, Any]:
    return {
        "approval": approval.pk,
        "action": approval.action,
        "proposed_by": approval.proposed_by_label,
        "proposed_at": iso(approval.proposed_at),
        "expires_at": iso(approval.expires_at),
    }


# --- proposing ---------------------------------------------------------------------------------


def case_act(
    *, case: Case | int, command: Command, actor: Actor, expected_state: str | None = None
) -> Case | ApprovalRequest:
    """Take a workflow action as a person or a client: an action that needs four eyes is
    proposed (``approval_propose``), any other carried out (``case_transition``)."""
    if command.action in FOUR_EYES_ACTIONS:
        return approval_propose(
            case=case, command=command, actor=actor, expected_state=expected_state
        )
    return case_transition(case=case, command=command, actor=actor, expected_state=expected_state)


def approval_propose(
    *, case: Case | int, command: Command, actor: Actor, expected_state: str | None = None
) -> ApprovalRequest:
    """Propose ``command`` for a second person's approval, or raise and write nothing.

    The input is checked exactly as carrying it out would check it (the state, the role, the
    policies, a lead's override); the case does not move, the suspension stays in force. The
    other leads are told at once. A request already pending for the case is a 409.
    """
    if command.action not in APPROVAL_INPUTS:
        raise InvalidInput(detail=f"'{command.action}' needs no approval.", field="action")
    with transaction.atomic():
        locked = _lock_case(case)
        if expected_state is not None and locked.state != expected_state:
            raise StaleState(expected=expected_state, actual=locked.state)
        check_transition(locked.state, command.action, actor.role)
        transition_check(locked, command, actor)
        now = timezone.now()
        _expire_for_case(locked, now)
        if ApprovalRequest.objects.filter(case=locked, state=ApprovalState.PENDING).exists():
            raise ApprovalAlreadyPending(case_id=locked.pk)
        last_seq = (
            CaseEvent.objects.filter(case=locked).order_by("-seq").values_list("seq", flat=True)
        ).first() or 0
        comment = getattr(command, "rationale", "") or ""
        try:
            with transaction.atomic():
                approval = ApprovalRequest.objects.create(
                    action=command.action,
                    case=locked,
                    input=input_as_json(command),
                    state=ApprovalState.PENDING,
                    proposed_at=now,
                    comment=comment,
                    expires_at=now + settings.APPROVAL_TTL,
                    case_state=locked.state,
                    case_seq=last_seq + 1,  # the approval_requested event below
                    **actor_fields("proposed_by", actor),
                )
        except IntegrityError:
            raise ApprovalAlreadyPending(case_id=locked.pk) from None
        event = _append_event(
            case=locked,
            actor=actor,
            action=EventAction.APPROVAL_REQUESTED,
            at=now,
            reason=comment,
            data={**_view(approval), "input": approval.input},
        )
        _notify(approval, event, "approval.requested", other_leads(approval))
    return approval


# --- deciding ----------------------------------------------------------------------------------


def _lock(approval: ApprovalRequest | int) -> tuple[ApprovalRequest, Case]:
    """The request and its case, locked in the order every case change takes (case first)."""
    approval_id = approval.pk if isinstance(approval, ApprovalRequest) else approval
    case_id = (
        ApprovalRequest.objects.filter(pk=approval_id).values_list("case_id", flat=True).first()
    )
    if case_id is None:
        raise ApprovalNotFound(detail=f"No approval request {approval_id}.")
    locked_case = _lock_case(case_id)
    return ApprovalRequest.objects.select_for_update().get(pk=approval_id), locked_case


def _decidable(approval: ApprovalRequest, case: Case, actor: Actor, now: datetime) -> None:
    """Refuse, with a typed error, unless ``actor`` may decide ``approval`` now."""
    if not role_allows(actor.role, APPROVER_ROLE):
        raise Forbidden(
            detail=f"Role '{actor.role or 'none'}' may not decide approvals; it takes a lead."
        )
    if approval.state == ApprovalState.PENDING:
        if approval.expires_at <= now:
            _close(approval, ApprovalState.EXPIRED, now)
        else:
            changed = _superseding_event(approval, case)
            if changed is not None:
                _close(approval, ApprovalState.SUPERSEDED, now, superseded_by=changed)
    if approval.state == ApprovalState.EXPIRED:
        raise ApprovalExpired(expires_at=iso(approval.expires_at))
    if approval.state == ApprovalState.SUPERSEDED:
        raise ApprovalSuperseded()
    if approval.state != ApprovalState.PENDING:
        raise ApprovalNotPending(state=approval.state)
    if is_proposer(approval, actor):
        raise SelfApproval()


def approval_approve(
    *, approval: ApprovalRequest | int, actor: Actor, comment: str = ""
) -> ApprovalRequest:
    """Approve and carry the action out, as a lead other than the proposer.

    An expired or superseded request is recorded as such and refused (409); so is one already
    decided. Two approvers at once: the request's row lock lets one carry it out; the other
    finds it approved.
    """
    comment = _comment(comment)
    refusal: Exception | None = None
    with transaction.atomic():
        locked, case = _lock(approval)
        now = timezone.now()
        try:
            _decidable(locked, case, actor, now)
        except (ApprovalExpired, ApprovalSuperseded) as exc:
            refusal = exc  # the new state is kept: commit, then refuse
        else:
            if locked.action == ApprovalAction.LIFT_TERMINATION:
                _approve_lift(locked, case, actor, now, comment)
                locked.refresh_from_db()
                return locked
            command = input_of(locked)
            _mark_approved(locked, case, actor, now, comment)
            case_transition(
                case=case.pk,
                command=command,
                actor=actor,
                expected_state=locked.case_state,
                approval=locked,
            )
            decision = (
                Decision.objects.filter(case=case, event__action=locked.action)
                .order_by("-id")
                .first()
            )
            ApprovalRequest.objects.filter(pk=locked.pk).update(decision=decision)
            locked.refresh_from_db()
    if refusal is not None:
        raise refusal
    return locked


def _mark_approved(
    approval: ApprovalRequest,
    case: Case,
    actor: Actor,
    now: datetime,
    comment: str,
    **event_data: Any,
) -> None:
    """Record ``approval`` as approved by ``actor`` (on the row and on the timeline); the
    caller then carries out what it approves."""
    ApprovalRequest.objects.filter(pk=approval.pk).update(
        state=ApprovalState.APPROVED,
        decided_at=now,
        decision_comment=comment,
        **actor_fields("decided_by", actor),
    )
    approval.refresh_from_db()
    _append_event(
        case=case,
        actor=actor,
        action=EventAction.APPROVAL_APPROVED,
        at=now,
        reason=comment,
        data={**_view(approval), "approved_by": actor.label, **event_data},
    )


def _approve_lift(
    approval: ApprovalRequest, case: Case, actor: Actor, now: datetime, comment: str
) -> None:
    """Carry out an approved ``lift_termination``: the appeal's outcome, decided by the
    approver, who must be free to decide the appeal too (no part in the termination)."""
    appeal = (
        Appeal.objects.select_for_update(of=("self",))
        .select_related("decision", "account")
        .get(pk=approval.input["appeal"])
    )
    if appeal.state not in APPEAL_OPEN_STATES:
        raise AppealNotOpen(state=appeal.state, what="decided")
    check_reviewer(appeal, actor)
    command = lift_input_of(approval)
    _mark_approved(approval, case, actor, now, comment, appeal=appeal.pk)
    made = appeal_outcome_apply(
        case=case, appeal=appeal, command=command, actor=actor, approval=approval
    )
    ApprovalRequest.objects.filter(pk=approval.pk).update(decision=made)


def lift_input_of(approval: ApprovalRequest) -> AppealDecide:
    """The appeal outcome a ``lift_termination`` request carries, as its type again."""
    data = dict(approval.input)
    data.pop("appeal", None)
    restriction = data.pop("restriction", None)
    duration = data.pop("duration", None)
    ends_at = data.pop("ends_at", None)
    return AppealDecide(
        **data,
        restriction=RestrictionSpec(**restriction) if restriction else None,
        duration=parse_duration(duration) if duration else None,
        ends_at=parse_datetime(ends_at) if ends_at else None,
    )


def lift_termination_propose(
    *, case: Case, appeal: Appeal, command: AppealDecide, actor: Actor
) -> ApprovalRequest:
    """Propose an appeal's ``overturned`` or ``modified`` outcome of a termination for a second
    lead's approval; the caller holds the case's and the appeal's locks and has checked that
    ``actor`` may decide the appeal. Nothing changes until a different lead approves; the other
    leads are told at once. A request already pending for the case is a 409."""
    if not role_allows(actor.role, APPROVER_ROLE):
        raise Forbidden(detail="Lifting a termination is proposed by a lead.")
    now = timezone.now()
    _expire_for_case(case, now)
    if ApprovalRequest.objects.filter(case=case, state=ApprovalState.PENDING).exists():
        raise ApprovalAlreadyPending(case_id=case.pk)
    last_seq = (
        CaseEvent.objects.filter(case=case).order_by("-seq").values_list("seq", flat=True)
    ).first() or 0
    stored: dict[str, Any] = {
        "appeal": appeal.pk,
        "outcome": command.outcome,
        "reason": command.reason,
        "restriction": command.restriction.as_data() if command.restriction else None,
        "duration": duration_iso_string(command.duration) if command.duration else None,
        "ends_at": iso(command.ends_at) if command.ends_at else None,
    }
    try:
        with transaction.atomic():
            approval = ApprovalRequest.objects.create(
                action=ApprovalAction.LIFT_TERMINATION,
                case=case,
                input=stored,
                state=ApprovalState.PENDING,
                proposed_at=now,
                comment=command.reason,
                expires_at=now + settings.APPROVAL_TTL,
                case_state=case.state,
                case_seq=last_seq + 1,  # the approval_requested event below
                **actor_fields("proposed_by", actor),
            )
    except IntegrityError:
        raise ApprovalAlreadyPending(case_id=case.pk) from None
    event = _append_event(
        case=case,
        actor=actor,
        action=EventAction.APPROVAL_REQUESTED,
        at=now,
        reason=command.reason,
        data={**_view(approval), "input": approval.input},
    )
    _notify(approval, event, "approval.requested", other_leads(approval))
    return approval


def approval_reject(
    *, approval: ApprovalRequest | int, actor: Actor, comment: str = ""
) -> ApprovalRequest:
    """Reject, as a lead other than the proposer: the case stays as it is (investigated, the
    suspension in force) and another action may be taken or proposed."""
    comment = _comment(comment)
    refusal: Exception | None = None
    with transaction.atomic():
        locked, case = _lock(approval)
        now = timezone.now()
        try:
            _decidable(locked, case, actor, now)
        except (ApprovalExpired, ApprovalSuperseded) as exc:
            refusal = exc
        else:
            ApprovalRequest.objects.filter(pk=locked.pk).update(
                state=ApprovalState.REJECTED,
                decided_at=now,
                decision_comment=comment,
                **actor_fields("decided_by", actor),
            )
            locked.refresh_from_db()
            event = _append_event(
                case=case,
                actor=actor,
                action=EventAction.APPROVAL_REJECTED,
                at=now,
                reason=comment,
                data={**_view(locked), "rejected_by": actor.label},
            )
            if locked.proposed_by_user is not None:
                _notify(locked, event, "approval.rejected", [locked.proposed_by_user])
    if refusal is not None:
        raise refusal
    return locked


def _comment(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(detail="'comment' must be text.", field="comment")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(
            detail=f"'comment' is longer than {MAX_TEXT} characters.", field="comment"
        )
    return value


# --- supersession and expiry -------------------------------------------------------------------


def _close(
    approval: ApprovalRequest, state: str, now: datetime, superseded_by: CaseEvent | None = None
) -> None:
    ApprovalRequest.objects.filter(pk=approval.pk, state=ApprovalState.PENDING).update(
        state=state, decided_at=now, superseded_by=superseded_by
    )
    approval.refresh_from_db()


def _superseding_event(approval: ApprovalRequest, case: Case) -> CaseEvent | None:
    """The first event after the proposal that changes the case, if any (the state moving is
    one: every transition is an event)."""
    return (
        CaseEvent.objects.filter(case=case, seq__gt=approval.case_seq)
        .exclude(action__in=list(APPROVAL_NEUTRAL_EVENTS))
        .order_by("seq")
        .first()
    )


def _expire_for_case(case: Case, now: datetime) -> None:
    ApprovalRequest.objects.filter(
        case=case, state=ApprovalState.PENDING, expires_at__lte=now
    ).update(state=ApprovalState.EXPIRED, decided_at=now)


def approvals_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Record the requests past their ``expires_at`` as expired, and remind the other leads of
    each request ``APPROVAL_REMINDER_BEFORE`` it expires, once (a ``Reminder`` row, unique on
    case, deadline and kind, is the claim)."""
    now = now or timezone.now()
    expired = ApprovalRequest.objects.filter(
        state=ApprovalState.PENDING, expires_at__lte=now
    ).update(state=ApprovalState.EXPIRED, decided_at=now)
    reminded = 0
    due = (
        ApprovalRequest.objects.filter(
            state=ApprovalState.PENDING,
            expires_at__gt=now,
            expires_at__lte=now + settings.APPROVAL_REMINDER_BEFORE,
        )
        .exclude(
            Exists(
                Reminder.objects.filter(
                    case_id=OuterRef("case_id"), kind=REMINDER_KIND, deadline=OuterRef("expires_at")
                )
            )
        )
        .select_related("case__account", "proposed_by_user")
        .order_by("expires_at")
    )
    for approval in due:
        try:
            if _remind(approval, now):
                reminded += 1
        except Exception:
            logger.exception("approval reminder failed for request %s", approval.pk)
    return {"expired": expired, "reminded": reminded}


def _remind(approval: ApprovalRequest, now: datetime) -> bool:
    with transaction.atomic():
        try:
            with transaction.atomic():
                Reminder.objects.create(
                    case=approval.case,
                    deadline=approval.expires_at,
                    kind=REMINDER_KIND,
                    sent_at=now,
                )
        except IntegrityError:
            return False
        _notify(approval, None, "approval.reminder", other_leads(approval))
    return True


# --- notices -----------------------------------------------------------------------------------


def _notify(approval: ApprovalRequest, event: CaseEvent | None, kind: str, users: Any) -> None:
    from notifications.services import notices_record_for_approval

    notices_record_for_approval(approval=approval, kind=kind, users=users, event=event)
