"""The remediation plan: verifying its items and moving its deadline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.times import iso, iso_or_none
from core.actors import Actor
from core.errors import InvalidInput

from ..choices import CaseState, EventAction
from ..errors import CaseNotFound, PlanClosed
from ..models import Case, RemediationItem, RemediationPlan
from ..workflow import PLAN_DEADLINE_MIN_ROLE, PLAN_VERIFY_MIN_ROLE
from .transitions import (
    _append_event,
    _datetime,
    _lock_case,
    _require_role,
    _text,
    review_deadline_for,
)


def plan_item_verify(
    *, item: RemediationItem | int, actor: Actor, note: str = ""
) -> RemediationItem:
    """Mark one required change as verified (investigators and leads)."""
    _require_role(actor, PLAN_VERIFY_MIN_ROLE, "verify remediation items")
    item_id = item.pk if isinstance(item, RemediationItem) else item
    case_id = (
        RemediationItem.objects.filter(pk=item_id).values_list("plan__case_id", flat=True).first()
    )
    if case_id is None:
        raise CaseNotFound(detail=f"Remediation item {item_id} does not exist.")
    with transaction.atomic():
        locked = _lock_case(case_id)
        if locked.state != CaseState.INVESTIGATED:
            raise PlanClosed(state=locked.state)
        target = RemediationItem.objects.get(pk=item_id)
        if target.verified_at is not None:
            return target
        now = timezone.now()
        RemediationItem.objects.filter(pk=item_id).update(
            verified_at=now, verified_by=actor.label, verification_note=note
        )
        _append_event(
            case=locked,
            actor=actor,
            action=EventAction.PLAN_ITEM_VERIFIED,
            at=now,
            reason=note,
            data={"item": item_id, "description": target.description},
        )
        target.refresh_from_db()
    return target


def plan_items_verify(
    *, items: Sequence[RemediationItem | int], actor: Actor, note: str = ""
) -> list[RemediationItem]:
    """Verify several required changes of one case at once, with one note.

    Each goes through ``plan_item_verify`` (its checks, its timeline event), all in one
    transaction: when one is refused, none is verified. An item already verified stays as it
    was (and is returned as it is). The items must all be of one case's plan.
    """
    ids = [item.pk if isinstance(item, RemediationItem) else item for item in items]
    if not ids:
        raise InvalidInput(detail="Name at least one plan item to verify.", field="items")
    cases = set(RemediationItem.objects.filter(pk__in=ids).values_list("plan__case_id", flat=True))
    if len(cases) > 1:
        raise InvalidInput(detail="The items are of different cases' plans.", field="items")
    with transaction.atomic():
        return [plan_item_verify(item=item_id, actor=actor, note=note) for item_id in ids]


def plan_deadline_set(
    *, case: Case | int, deadline: Any, actor: Actor, reason: str = ""
) -> RemediationPlan:
    """Move the remediation plan's deadline (investigators and up).

    The case's review deadline follows the plan's, so it moves too; the timeline says so, and
    the deadline sweep sends fresh reminders for the new deadline.
    """
    _require_role(actor, PLAN_DEADLINE_MIN_ROLE, "change a remediation plan's deadline")
    new_deadline = _datetime(deadline, "deadline")
    reason = _text({"reason": reason}, "reason", required=False)
    with transaction.atomic():
        locked = _lock_case(case)
        plan = RemediationPlan.objects.filter(case=locked).first()
        if plan is None:
            raise InvalidInput(detail="This case has no remediation plan.", field="deadline")
        if locked.state != CaseState.INVESTIGATED:
            raise PlanClosed(state=locked.state)
        now = timezone.now()
        if new_deadline <= now:
            raise InvalidInput(detail="'deadline' must be in the future.", field="deadline")
        if new_deadline == plan.deadline:
            return plan
        review_deadline = review_deadline_for(
            locked.state, locked.priority, start=locked.state_entered_at, plan_deadline=new_deadline
        )
        RemediationPlan.objects.filter(pk=plan.pk).update(deadline=new_deadline)
        Case.objects.filter(pk=locked.pk).update(review_deadline=review_deadline, updated_at=now)
        _append_event(
            case=locked,
            actor=actor,
            action=EventAction.PLAN_DEADLINE,
            at=now,
            reason=reason,
            data={
                "from": iso(plan.deadline),
                "to": iso(new_deadline),
                "review_deadline": iso_or_none(review_deadline),
            },
        )
        plan.refresh_from_db()
    return plan
