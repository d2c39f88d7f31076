"""Evidence items: files added to a case and snapshots frozen at a decision, write-once."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import Account
from cases.actions import Investigate, Suspend, Terminate
from cases.choices import CustodyAction, EventAction, EvidenceKind
from cases.custody import canonical_json, custody_chain_problems
from cases.errors import EvidenceCorrupted, EvidenceNotFound
from cases.evidence_store import content_read, evidence_storage
from cases.models import AppendOnlyError, CaseEvent, CustodyEvent, EvidenceItem, Signal
from cases.services import case_transition
from cases.services.custody import item_record
from cases.services.evidence import EvidenceUpload, evidence_item_add, evidence_item_open
from core.actors import Actor
from core.errors import Forbidden, InvalidInput

from ..services.helpers import case_in_state

POLICY = "competing-model-development"


def upload(content: bytes = b"request log\n", name: str = "log.txt", **kw: Any) -> EvidenceUpload:
    return EvidenceUpload(content=io.BytesIO(content), name=name, **kw)


def chain_of(item: EvidenceItem) -> list[tuple[dict[str, Any] | None, str]]:
    events = list(CustodyEvent.objects.filter(item=item).order_by("seq").values())
    return custody_chain_problems(item_record(item), events)


@pytest.mark.django_db
def test_adding_a_file_stores_it_once_with_its_hash_custody_and_timeline_event(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    content = b"2026-11-30 model=large prompts=120000\n"

    item = evidence_item_add(
        case=case.pk,
        upload=upload(content, "traffic.txt", description="export"),
        actor=actors["analyst"],
    )

    assert (item.kind, item.name, item.size) == (EvidenceKind.UPLOAD, "traffic.txt", len(content))
    assert item.sha256 == hashlib.sha256(content).hexdigest()
    assert item.media_type == "text/plain"
    assert item.acquired_by == "analyst"
    assert content_read(item.storage_name) == content
    custody = list(item.custody.order_by("seq"))
    assert [(c.seq, c.action, c.actor_label) for c in custody] == [(1, "acquired", "analyst")]
    assert chain_of(item) == []
    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None and event.action == EventAction.EVIDENCE_FILE
    assert event.data == {
        "item": item.pk,
        "name": "traffic.txt",
        "media_type": "text/plain",
        "size": len(content),
        "sha256": item.sha256,
    }


@pytest.mark.django_db
def test_two_files_with_the_same_name_are_both_kept(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    first = evidence_item_add(case=case.pk, upload=upload(b"one"), actor=actors["analyst"])
    second = evidence_item_add(case=case.pk, upload=upload(b"two"), actor=actors["analyst"])

    assert first.storage_name != second.storage_name
    assert content_read(first.storage_name) == b"one"
    assert content_read(second.storage_name) == b"two"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "kwargs", "error"),
    [
        ("auditor", {}, Forbidden),
        ("analyst", {"content": b""}, InvalidInput),
        ("analyst", {"name": "bad\x00name"}, InvalidInput),
        ("analyst", {"media_type": "not a type"}, InvalidInput),
    ],
)
def test_a_refused_file_writes_nothing(
    role: str,
    kwargs: dict[str, Any],
    error: type[Exception],
    account: Account,
    policies: Any,
    actors: dict[str, Actor],
) -> None:
    case = case_in_state(account, "flagged")
    events = CaseEvent.objects.filter(case=case).count()
    stored_before = _stored_names(case.pk)

    with pytest.raises(error):
        evidence_item_add(case=case.pk, upload=upload(**kwargs), actor=actors[role])

    assert EvidenceItem.objects.filter(case=case).exists() is False
    assert CustodyEvent.objects.exists() is False
    assert CaseEvent.objects.filter(case=case).count() == events
    assert _stored_names(case.pk) == stored_before


def _stored_names(case_id: int) -> list[str]:
    storage = evidence_storage()
    try:
        return sorted(storage.listdir(str(case_id))[1])
    except FileNotFoundError:
        return []


@pytest.mark.django_db
def test_suspending_freezes_a_snapshot_that_later_edits_do_not_change(
    account: Account, policies: Any
) -> None:
    case = case_in_state(account, "flagged")
    Signal.objects.create(
        account=account,
        kind="prompt_volume",
        severity="high",
        occurred_at=timezone.now(),
        source="detector",
        dedupe_key="before",
    )

    case_transition(
        case=case,
        command=Suspend(reason="distillation", policies=[POLICY]),
        actor=Actor.system("t"),
    )

    snapshot = EvidenceItem.objects.get(case=case, kind=EvidenceKind.SNAPSHOT)
    frozen = content_read(snapshot.storage_name)
    assert hashlib.sha256(frozen).hexdigest() == snapshot.sha256
    assert snapshot.size == len(frozen)
    assert snapshot.media_type == "application/json"
    document = json.loads(frozen)
    assert canonical_json(document) == frozen
    suspend = CaseEvent.objects.get(case=case, action="suspend")
    assert snapshot.event_id == suspend.pk
    assert document["event"] == {**document["event"], "seq": suspend.seq, "hash": suspend.hash}
    assert document["case"]["state"] == "suspended"
    assert document["account"]["external_id"] == account.external_id
    assert document["account"]["enforcement_status"] == "suspended"
    assert [d["kind"] for d in document["decisions"]] == ["suspend"]
    assert document["decisions"][0]["statement"]["reference"]
    signals_then = [s["id"] for s in document["signals"]]

    Account.objects.filter(pk=account.pk).update(name="Renamed Inc", contacts=["new@x.test"])
    Signal.objects.create(
        account=account,
        kind="prompt_volume",
        severity="critical",
        occurred_at=timezone.now(),
        source="detector",
        dedupe_key="after",
    )

    assert content_read(snapshot.storage_name) == frozen
    assert hashlib.sha256(content_read(snapshot.storage_name)).hexdigest() == snapshot.sha256
    assert [s["id"] for s in json.loads(frozen)["signals"]] == signals_then
    assert chain_of(snapshot) == []


@pytest.mark.django_db
def test_terminating_freezes_a_snapshot_of_its_own(account: Account, policies: Any) -> None:
    case = case_in_state(account, "suspended")
    system = Actor.system("t")
    case_transition(
        case=case,
        command=Investigate(findings="confirmed", violation_confirmed=True),
        actor=system,
    )
    case_transition(case=case, command=Terminate(rationale="repeated"), actor=system)

    snapshots = EvidenceItem.objects.filter(case=case, kind=EvidenceKind.SNAPSHOT)
    assert sorted(s.event.action for s in snapshots) == ["suspend", "terminate"]
    terminate = snapshots.get(event__action="terminate")
    document = json.loads(content_read(terminate.storage_name))
    assert document["case"]["state"] == "terminated"
    assert [d["kind"] for d in document["decisions"]] == ["terminate"]


@pytest.mark.django_db
def test_dismissing_takes_no_snapshot(account: Account, policies: Any) -> None:
    from cases.actions import Dismiss

    case = case_in_state(account, "flagged")
    case_transition(case=case, command=Dismiss(reason="false alarm"), actor=Actor.system("t"))

    assert EvidenceItem.objects.filter(case=case).exists() is False


@pytest.mark.django_db
def test_opening_an_item_is_a_custody_event_chained_to_the_last(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    item = evidence_item_add(case=case.pk, upload=upload(), actor=actors["analyst"])

    evidence_item_open(item_id=item.pk, actor=actors["auditor"], reason="court request 12")
    evidence_item_open(item_id=item.pk, actor=actors["lead"], action=CustodyAction.VIEWED)

    custody = list(item.custody.order_by("seq"))
    assert [(c.seq, c.action, c.actor_label, c.reason) for c in custody] == [
        (1, "acquired", "analyst", ""),
        (2, "downloaded", "auditor", "court request 12"),
        (3, "viewed", "lead", ""),
    ]
    assert custody[2].prev_hash == custody[1].hash
    assert chain_of(item) == []


@pytest.mark.django_db
def test_an_item_whose_content_changed_is_not_opened_and_nothing_is_logged(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    item = evidence_item_add(case=case.pk, upload=upload(b"original"), actor=actors["analyst"])
    path = evidence_storage().path(item.storage_name)
    import os

    os.chmod(path, 0o640)
    with open(path, "wb") as handle:
        handle.write(b"tampered")

    with pytest.raises(EvidenceCorrupted):
        evidence_item_open(item_id=item.pk, actor=actors["auditor"])

    assert item.custody.count() == 1


@pytest.mark.django_db
def test_opening_an_unknown_item_is_not_found(actors: dict[str, Actor]) -> None:
    with pytest.raises(EvidenceNotFound):
        evidence_item_open(item_id=999999, actor=actors["auditor"])
    assert CustodyEvent.objects.exists() is False


@pytest.mark.django_db
def test_the_orm_refuses_to_change_or_delete_items_and_custody(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    item = evidence_item_add(case=case.pk, upload=upload(), actor=actors["analyst"])
    item.sha256 = "0" * 64
    with pytest.raises(AppendOnlyError):
        item.save()
    with pytest.raises(AppendOnlyError):
        EvidenceItem.objects.filter(pk=item.pk).delete()
    with pytest.raises(AppendOnlyError):
        CustodyEvent.objects.filter(item=item).update(reason="x")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE cases_evidenceitem SET sha256 = 'forged'",
        "DELETE FROM cases_evidenceitem",
        "UPDATE cases_custodyevent SET actor_label = 'forged'",
        "DELETE FROM cases_custodyevent",
    ],
)
def test_the_database_refuses_sql_updates_and_deletes_of_items_and_custody(
    statement: str, account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    item = evidence_item_add(case=case.pk, upload=upload(), actor=actors["analyst"])
    before = (
        list(EvidenceItem.objects.values_list("id", "sha256")),
        list(CustodyEvent.objects.values_list("id", "actor_label")),
    )

    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)

    assert list(EvidenceItem.objects.values_list("id", "sha256")) == before[0]
    assert list(CustodyEvent.objects.values_list("id", "actor_label")) == before[1]
    assert item.custody.count() == 1
