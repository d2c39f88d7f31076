"""Evidence items and custody events changed around the guards, and verify_audit naming it.

As in test_tampering: on PostgreSQL the tampering is a superuser's (``session_replication_role
= replica`` skips the triggers), on SQLite the guard is lifted."""

from __future__ import annotations

import io
import os
from typing import Any

import pytest

from accounts.models import Account
from cases.choices import CustodyAction
from cases.evidence_store import evidence_storage
from cases.models import CaseEvent, CustodyEvent, EvidenceItem
from cases.services.evidence import EvidenceUpload, evidence_item_add, evidence_item_open
from core.actors import Actor

from ..cases.services.helpers import case_in_state
from .test_audit_trail import guard_bypassed
from .test_tampering import sql, verify_fails, verify_ok


@pytest.fixture
def evidence(account: Account, policies: Any, actors: dict[str, Actor]) -> dict[str, Any]:
    case = case_in_state(account, "suspended")
    item = evidence_item_add(
        case=case.pk,
        upload=EvidenceUpload(content=io.BytesIO(b"request log"), name="log.txt"),
        actor=actors["analyst"],
    )
    evidence_item_open(item_id=item.pk, actor=actors["auditor"], reason="review")
    evidence_item_open(item_id=item.pk, actor=actors["lead"], action=CustodyAction.VIEWED)
    snapshot = EvidenceItem.objects.get(case=case, kind="snapshot")
    return {"case": case, "item": item, "snapshot": snapshot}


@pytest.mark.django_db
def test_fresh_evidence_and_custody_verify(evidence: dict[str, Any], capsys: Any) -> None:
    out = verify_ok(capsys)
    assert "2 evidence items with 4 custody events" in out
    capsys.readouterr()
    from django.core.management import call_command

    call_command("verify_audit", "--content")
    assert capsys.readouterr().out.startswith("OK: ")


@pytest.mark.django_db
def test_a_changed_hash_of_an_item_is_reported(evidence: dict[str, Any], capsys: Any) -> None:
    case, item = evidence["case"], evidence["item"]
    with guard_bypassed():
        sql("UPDATE cases_evidenceitem SET sha256 = %s WHERE id = %s", ["0" * 64, item.pk])

    out, error = verify_fails(capsys)

    first = CustodyEvent.objects.get(item=item, seq=1)
    recorded = CaseEvent.objects.get(case=case, action="evidence_file")
    assert (
        f"cases_custodyevent custody of evidence {item.pk} of case {case.pk} event {first.pk} "
        "(seq 1): hash does not match its content or the item's record" in out
    )
    assert (
        f"cases_evidenceitem evidence {item.pk} of case {case.pk}: sha256 differ(s) from what "
        f"event {recorded.pk} (seq {recorded.seq}) recorded" in out
    )
    assert out.count("\n") == 2
    assert f"({case.pk})" in error


@pytest.mark.django_db
def test_a_changed_snapshot_record_is_reported(evidence: dict[str, Any], capsys: Any) -> None:
    case, snapshot = evidence["case"], evidence["snapshot"]
    with guard_bypassed():
        sql("UPDATE cases_evidenceitem SET size = 1 WHERE id = %s", [snapshot.pk])

    out, _ = verify_fails(capsys)

    assert f"custody of evidence {snapshot.pk} of case {case.pk} event" in out
    assert out.count("\n") == 1


@pytest.mark.django_db
def test_a_rewritten_custody_event_is_reported(evidence: dict[str, Any], capsys: Any) -> None:
    case, item = evidence["case"], evidence["item"]
    download = CustodyEvent.objects.get(item=item, seq=2)
    with guard_bypassed():
        sql("UPDATE cases_custodyevent SET actor_label = 'nobody' WHERE id = %s", [download.pk])

    out, _ = verify_fails(capsys)

    assert (
        f"cases_custodyevent custody of evidence {item.pk} of case {case.pk} event {download.pk} "
        "(seq 2): hash does not match its content (changed after it was written)" in out
    )
    assert out.count("\n") == 1


@pytest.mark.django_db
def test_a_deleted_custody_event_is_reported(evidence: dict[str, Any], capsys: Any) -> None:
    item = evidence["item"]
    with guard_bypassed():
        sql("DELETE FROM cases_custodyevent WHERE item_id = %s AND seq = 2", [item.pk])

    out, _ = verify_fails(capsys)

    assert "(seq 3): seq 3 where 2 was expected" in out
    assert "(seq 3): prev_hash is not the previous event's hash" in out


@pytest.mark.django_db
def test_a_deleted_upload_is_reported(evidence: dict[str, Any], capsys: Any) -> None:
    case, item = evidence["case"], evidence["item"]
    with guard_bypassed():
        sql("DELETE FROM cases_custodyevent WHERE item_id = %s", [item.pk])
        sql("DELETE FROM cases_evidenceitem WHERE id = %s", [item.pk])

    out, _ = verify_fails(capsys)

    recorded = CaseEvent.objects.get(case=case, action="evidence_file")
    assert (
        f"cases_evidenceitem evidence {item.pk} of case {case.pk}: recorded by event "
        f"{recorded.pk} (seq {recorded.seq}) but missing" in out
    )
    assert out.count("\n") == 1


@pytest.mark.django_db
def test_changed_content_is_reported_with_content(evidence: dict[str, Any], capsys: Any) -> None:
    case, item = evidence["case"], evidence["item"]
    path = evidence_storage().path(item.storage_name)
    os.chmod(path, 0o640)
    with open(path, "wb") as handle:
        handle.write(b"request lot")
    verify_ok(capsys)  # the database alone still holds together

    out, _ = verify_fails(capsys, "--content")

    assert (
        f"cases_evidenceitem evidence {item.pk} of case {case.pk}: its stored content "
        f"'{item.storage_name}' no longer has its SHA-256 and size" in out
    )
