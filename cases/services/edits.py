"""Changes to a case besides its state: assignment, priority, notes and evidence."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from config.times import iso_or_none

from ..actors import Actor
from ..choices import EventAction, Priority
from ..errors import InvalidInput
from ..models import Case, CaseNote, EvidenceReference
from ..workflow import ASSIGN_SELF_MIN_ROLE, NOTE_MIN_ROLE, PRIORITY_MIN_ROLE, REASSIGN_MIN_ROLE
from .transitions import (
    _append_event,
    _lock_case,
    _notify_transition,
    _plan_deadline,
    _require_role,
    _text,
    review_deadline_for,
)


def case_assign(*, case: Case | int, assignee: Any, actor: Actor, reason: str = "") -> Case:
    """Assign a case. Anyone analyst and up may take an unassigned case; leads reassign."""
    with transaction.atomic():
        locked = _lock_case(case)
        if not locked.is_open:
            raise InvalidInput(detail="A closed case cannot be assigned.", field="assignee")
        taking_free = (
            locked.assignee_id is None
            and actor.user is not None
            and (assignee is not None and assignee.pk == actor.user.pk)
        )
        if taking_free:
            _require_role(actor, ASSIGN_SELF_MIN_ROLE, "take a case")
        else:
            _require_role(actor, REASSIGN_MIN_ROLE, "reassign cases")
        if assignee is not None:
            from ..actors import user_role

            if user_role(assignee) not in ("analyst", "investigator", "lead"):
                raise InvalidInput(
                    detail="Cases are assigned to analysts, investigators or leads.",
                    field="assignee",
                )
        previous = locked.assignee
        if (previous.pk if previous else None) == (assignee.pk if assignee else None):
            return locked
        now = timezone.now()
        Case.objects.filter(pk=locked.pk).update(assignee=assignee, updated_at=now)
        event = _append_event(
            case=locked,
            actor=actor,
            action=EventAction.ASSIGN,
            at=now,
            reason=reason,
            data={
                "from": previous.get_username() if previous else None,
                "to": assignee.get_username() if assignee else None,
            },
        )
        locked.refresh_from_db()
        _notify_transition(locked, event, None)
    return locked


def case_priority_set(*, case: Case | int, priority: str, actor: Actor, reason: str = "") -> Case:
    """Change priority (leads); the review deadline moves with it and the timeline says so."""
    _require_role(actor, PRIORITY_MIN_ROLE, "change priority")
    if priority not in Priority.values:
        raise InvalidInput(detail=f"Unknown priority '{priority}'.", field="priority")
    with transaction.atomic():
        locked = _lock_case(case)
        if not locked.is_open:
            raise InvalidInput(detail="A closed case keeps its priority.", field="priority")
        if locked.priority == priority:
            return locked
        now = timezone.now()
        deadline = review_deadline_for(
            locked.state,
            priority,
            start=locked.state_entered_at,
            plan_deadline=_plan_deadline(locked),
        )
        Case.objects.filter(pk=locked.pk).update(
            priority=priority, review_deadline=deadline, updated_at=now
        )
        _append_event(
            case=locked,
            actor=actor,
            action=EventAction.PRIORITY,
            at=now,
            reason=reason,
            data={
                "from": locked.priority,
                "to": priority,
                "review_deadline": iso_or_none(deadline),
            },
        )
        locked.refresh_from_db()
    return locked


def case_note_add(*, case: Case | int, body: str, actor: Actor) -> CaseNote:
    _require_role(actor, NOTE_MIN_ROLE, "add notes")
    body = _text({"body": body}, "body")
    with transaction.atomic():
        locked = _lock_case(case)
        now = timezone.now()
        note = CaseNote.objects.create(case=locked, author=actor.label, body=body, created_at=now)
        _append_event(
            case=locked,
            actor=actor,
            action=EventAction.NOTE,
            at=now,
            data={"note": note.pk, "body": body},
        )
    return note


def case_evidence_add(
    *, case: Case | int, reference: str, description: str = "", actor: Actor
) -> EvidenceReference:
    _require_role(actor, NOTE_MIN_ROLE, "add evidence")
    reference = _text({"reference": reference}, "reference")
    with transaction.atomic():
        locked = _lock_case(case)
        now = timezone.now()
        evidence = EvidenceReference.objects.create(
            case=locked,
            reference=reference[:500],
            description=description,
            added_by=actor.label,
            created_at=now,
        )
        _append_event(
            case=locked,
            actor=actor,
            action=EventAction.EVIDENCE,
            at=now,
            data={"evidence": evidence.pk, "reference": reference, "description": description},
        )
    return evidence
