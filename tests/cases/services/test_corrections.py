"""Notes and evidence references are corrected by new rows; the old ones stay as the history."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import Account
from cases.errors import CaseNotFound
from cases.models import CaseEvent, CaseNote, EvidenceReference
from cases.selectors import case_records_current
from cases.services import (
    case_evidence_add,
    case_evidence_correct,
    case_note_add,
    case_note_correct,
)
from core.actors import Actor
from core.errors import Forbidden, InvalidInput, MissingInput

from .helpers import case_in_state


def snapshot() -> tuple[list[Any], list[Any], int]:
    return (
        list(CaseNote.objects.order_by("id").values()),
        list(EvidenceReference.objects.order_by("id").values()),
        CaseEvent.objects.count(),
    )


@pytest.mark.django_db
def test_a_corrected_note_is_a_new_row_and_the_old_one_stays(
    account: Account, policies: Any, actors: dict[str, Actor], capsys: Any
) -> None:
    case = case_in_state(account, "suspended")
    note = case_note_add(case=case, body="Customer denies it", actor=actors["analyst"])

    new = case_note_correct(
        note=note, body="Customer admits it", reason="misheard", actor=actors["analyst"]
    )

    note.refresh_from_db()
    assert (note.body, note.corrects_id, new.corrects_id) == ("Customer denies it", None, note.pk)
    assert new.author == "analyst"
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None
    assert (event.action, event.reason) == ("note_corrected", "misheard")
    assert event.data == {"note": new.pk, "corrects": note.pk, "body": "Customer admits it"}
    [current] = case_records_current(case=case, model=CaseNote, limit=10)
    assert current.pk == new.pk and [n.pk for n in current.history] == [note.pk]
    # A correction of the correction: the history grows, newest first.
    third = case_note_correct(
        note=new, body="Customer admits it in writing", reason="detail", actor=actors["lead"]
    )
    [current] = case_records_current(case=case, model=CaseNote, limit=10)
    assert current.pk == third.pk and [n.pk for n in current.history] == [new.pk, note.pk]
    call_command("verify_audit")
    assert capsys.readouterr().out.startswith("OK: ")


@pytest.mark.django_db
def test_a_corrected_evidence_reference_is_a_new_row(
    account: Account, policies: Any, actors: dict[str, Actor], capsys: Any
) -> None:
    case = case_in_state(account, "suspended")
    old = case_evidence_add(case=case, reference="logs://q/1", actor=actors["analyst"])

    new = case_evidence_correct(
        evidence=old.pk,
        reference="logs://q/2",
        description="the right query",
        reason="wrong query id",
        actor=actors["analyst"],
    )

    old.refresh_from_db()
    assert (old.reference, new.reference, new.corrects_id) == ("logs://q/1", "logs://q/2", old.pk)
    assert CaseEvent.objects.filter(case=case, action="evidence_corrected").count() == 1
    [current] = case_records_current(case=case, model=EvidenceReference, limit=10)
    assert current.pk == new.pk and [e.pk for e in current.history] == [old.pk]
    call_command("verify_audit")
    assert capsys.readouterr().out.startswith("OK: ")


@pytest.mark.django_db
def test_refused_corrections_write_nothing(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    from tests.conftest import make_user

    case = case_in_state(account, "suspended")
    note = case_note_add(case=case, body="first", actor=actors["analyst"])
    evidence = case_evidence_add(case=case, reference="logs://1", actor=actors["analyst"])
    case_note_correct(note=note, body="second", reason="typo", actor=actors["analyst"])
    other_analyst = Actor.for_user(make_user("analyst", "analyst-2"))
    before = snapshot()

    current = CaseNote.objects.get(corrects=note)
    note_fix, evidence_fix = partial(case_note_correct, body="x"), case_evidence_correct
    lead, analyst, auditor = actors["lead"], actors["analyst"], actors["auditor"]
    refusals: list[tuple[type[Exception], Any]] = [
        # Only the current version can be corrected.
        (InvalidInput, partial(note_fix, note=note, reason="r", actor=lead)),
        # Another analyst may not correct someone else's note or evidence; an auditor nothing.
        (Forbidden, partial(note_fix, note=current, reason="r", actor=other_analyst)),
        (
            Forbidden,
            partial(
                evidence_fix, evidence=evidence, reference="y", reason="r", actor=other_analyst
            ),
        ),
        (
            Forbidden,
            partial(evidence_fix, evidence=evidence, reference="y", reason="r", actor=auditor),
        ),
        # A reason is required, and the new text too; a reference is not cut but refused.
        (MissingInput, partial(note_fix, note=current, reason=" ", actor=analyst)),
        (
            MissingInput,
            partial(evidence_fix, evidence=evidence, reference="", reason="r", actor=analyst),
        ),
        (
            InvalidInput,
            partial(
                evidence_fix, evidence=evidence, reference="z" * 501, reason="r", actor=analyst
            ),
        ),
        (CaseNotFound, partial(note_fix, note=424242, reason="r", actor=lead)),
    ]
    for error, attempt in refusals:
        with pytest.raises(error):
            attempt()
    assert snapshot() == before


@pytest.mark.django_db
def test_an_over_long_reference_is_refused_not_cut(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "suspended")
    before = snapshot()
    with pytest.raises(InvalidInput):
        case_evidence_add(case=case, reference="r" * 501, actor=actors["analyst"])
    assert snapshot() == before
