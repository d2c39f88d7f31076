"""Correcting a note or an evidence reference from the case page; the page shows both versions."""

from __future__ import annotations

from typing import Any

from cases.models import CaseEvent, CaseNote, EvidenceReference
from cases.services import case_evidence_add, case_note_add
from core.actors import Actor
from tests.admin.conftest import MakeCase, change_url, messages_of


def test_a_note_corrected_from_the_case_page_shows_its_history(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    case = make_case("suspended")
    note = case_note_add(case=case, body="Customer denies it", actor=actors["analyst"])
    client = login("analyst")

    response = client.post(
        f"/admin/cases/case/{case.pk}/notes/{note.pk}/correct/",
        {"body": "Customer admits it", "reason": "misheard"},
        follow=True,
    )

    new = CaseNote.objects.get(corrects=note)
    assert any(f"corrected by note {new.pk}" in m for m in messages_of(response))
    html = client.get(change_url(case)).content.decode()
    current_row = html[html.index(f'id="ts-note-{new.pk}"') :]
    current_row = current_row[: current_row.index("</tr>")]
    assert "Customer admits it" in current_row
    assert "corrected (1 earlier version)" in current_row
    assert "Customer denies it" in current_row  # the history, in the same row
    assert f'id="ts-note-{note.pk}"' not in html  # the old version is not shown as current
    # The list of notes says which version each row is.
    listing = client.get(f"/admin/cases/casenote/?q={case.pk}").content.decode()
    assert f"corrected by {new.pk}" in listing and f"current (corrects {note.pk})" in listing


def test_evidence_correction_from_the_case_page_and_refusals(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    case = make_case("suspended")
    evidence = case_evidence_add(case=case, reference="logs://1", actor=actors["analyst"])
    url = f"/admin/cases/case/{case.pk}/evidence/{evidence.pk}/correct/"
    before = (EvidenceReference.objects.count(), CaseEvent.objects.count())

    # An investigator is not the author and not a lead; an auditor may do nothing at all;
    # a form without a reason applies nothing.
    refused = login("investigator").post(url, {"reference": "x", "reason": "r"}, follow=True)
    assert any("Only its author or a lead" in m for m in messages_of(refused))
    assert login("auditor").post(url, {"reference": "x", "reason": "r"}).status_code == 403
    empty = login("lead").post(url, {"reference": "logs://2", "reason": ""}, follow=True)
    assert any("Nothing was applied" in m for m in messages_of(empty))
    assert (EvidenceReference.objects.count(), CaseEvent.objects.count()) == before

    login("lead").post(url, {"reference": "logs://2", "description": "right one", "reason": "id"})
    new = EvidenceReference.objects.get(corrects=evidence)
    assert (new.reference, new.added_by) == ("logs://2", "lead")
    html = login("analyst").get(change_url(case)).content.decode()
    assert "logs://2" in html and "corrected (1 earlier version)" in html
