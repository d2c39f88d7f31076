"""Changes to a case besides its state: assignment, priority, notes and evidence.

Notes and evidence references are append-only: a correction is a new row that ``corrects`` the
one it replaces, recorded by its own timeline event; the old row stays as it was.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from config.times import iso_or_none
from core.actors import Actor
from core.errors import Forbidden, InvalidInput
from core.roles import role_allows

from ..choices import EventAction, Priority
from ..errors import CaseNotFound
from ..models import Case, CaseNote, EvidenceReference
from ..workflow import (
    ASSIGN_SELF_MIN_ROLE,
    CORRECT_OTHERS_MIN_ROLE,
    NOTE_MIN_ROLE,
    PRIORITY_MIN_ROLE,
    REASSIGN_MIN_ROLE,
)
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
            from core.actors import user_role

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
    """Change priority (leads); the review deadline moves with it and the timeline says so.
    Leads hear of a rise to high or critical."""
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
        event = _append_event(
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
        _notify_transition(locked, event, None)
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
    reference = _reference(reference)
    description = _text({"description": description}, "description", required=False)
    with transaction.atomic():
        locked = _lock_case(case)
        now = timezone.now()
        evidence = EvidenceReference.objects.create(
            case=locked,
            reference=reference,
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


def _reference(value: Any) -> str:
    reference = _text({"reference": value}, "reference")
    if len(reference) > REFERENCE_MAX:
        raise InvalidInput(
            detail=f"'reference' is longer than {REFERENCE_MAX} characters.", field="reference"
        )
    return reference


REFERENCE_MAX = EvidenceReference._meta.get_field("reference").max_length or 500


def _may_correct(actor: Actor, author: str, what: str) -> None:
    _require_role(actor, NOTE_MIN_ROLE, f"correct {what}")
    if author != actor.label and not role_allows(actor.role, CORRECT_OTHERS_MIN_ROLE):
        raise Forbidden(detail=f"Only its author or a lead may correct {what}.")


def case_note_correct(*, note: CaseNote | int, body: str, reason: str, actor: Actor) -> CaseNote:
    """Correct a note: a new note that ``corrects`` it; the old one stays, as the history.

    Only the current version can be corrected (a note already corrected is refused, naming its
    correction), by its author or a lead; ``reason`` says what was wrong.
    """
    note_id = note.pk if isinstance(note, CaseNote) else note
    body = _text({"body": body}, "body")
    reason = _text({"reason": reason}, "reason")
    case_id = CaseNote.objects.filter(pk=note_id).values_list("case_id", flat=True).first()
    if case_id is None:
        raise CaseNotFound(detail=f"Note {note_id} does not exist.")
    with transaction.atomic():
        locked = _lock_case(case_id)  # serialises corrections of the case's notes
        old = CaseNote.objects.get(pk=note_id)
        _may_correct(actor, old.author, "this note")
        _require_current(CaseNote, old.pk, "note", "body")
        now = timezone.now()
        new = CaseNote.objects.create(
            case=locked, author=actor.label, body=body, created_at=now, corrects=old
        )
        _append_event(
            case=locked,
            actor=actor,
            action=EventAction.NOTE_CORRECTED,
            at=now,
            reason=reason,
            data={"note": new.pk, "corrects": old.pk, "body": body},
        )
    return new


def case_evidence_correct(
    *,
    evidence: EvidenceReference | int,
    reference: str,
    description: str = "",
    reason: str,
    actor: Actor,
) -> EvidenceReference:
    """Correct an evidence reference: a new one that ``corrects`` it, as for notes."""
    evidence_id = evidence.pk if isinstance(evidence, EvidenceReference) else evidence
    reference = _reference(reference)
    description = _text({"description": description}, "description", required=False)
    reason = _text({"reason": reason}, "reason")
    case_id = (
        EvidenceReference.objects.filter(pk=evidence_id).values_list("case_id", flat=True).first()
    )
    if case_id is None:
        raise CaseNotFound(detail=f"Evidence reference {evidence_id} does not exist.")
    with transaction.atomic():
        locked = _lock_case(case_id)
        old = EvidenceReference.objects.get(pk=evidence_id)
        _may_correct(actor, old.added_by, "this evidence reference")
        _require_current(EvidenceReference, old.pk, "evidence reference", "reference")
        now = timezone.now()
        new = EvidenceReference.objects.create(
            case=locked,
            reference=reference,
            description=description,
            added_by=actor.label,
            created_at=now,
            corrects=old,
        )
        _append_event(
            case=locked,
            actor=actor,
            action=EventAction.EVIDENCE_CORRECTED,
            at=now,
            reason=reason,
            data={
                "evidence": new.pk,
                "corrects": old.pk,
                "reference": reference,
                "description": description,
            },
        )
    return new


def _require_current(model: Any, pk: int, what: str, field: str) -> None:
    newer = model.objects.filter(corrects_id=pk).values_list("pk", flat=True).first()
    if newer is not None:
        raise InvalidInput(
            detail=f"This {what} was already corrected by {newer}: correct that one.", field=field
        )
