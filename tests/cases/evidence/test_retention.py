"""Retention: what is past its period goes, what a legal hold keeps stays, and both are said.

Times are moved by passing ``now`` years ahead, so rows made today are past every period."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import Account
from cases.audit_verify import audit_check
from cases.choices import CustodyAction, EventAction
from cases.evidence_store import evidence_storage
from cases.guards import purge_allowed
from cases.models import (
    Case,
    CaseEvent,
    CustodyEvent,
    EvidenceItem,
    Incident,
    IncidentSignal,
    PurgeRecord,
    Signal,
)
from cases.retention import retention_plan
from cases.services import case_transition
from cases.services import retention as retention_service
from cases.services.evidence import EvidenceUpload, evidence_item_add, evidence_item_open
from cases.services.holds import legal_hold_place, legal_hold_release
from cases.services.retention import purge_expired
from core.actors import Actor
from notifications.models import DeliveryAttempt, Notice

from ..services.helpers import VALID_INPUT, case_in_state
from .test_evidence_items import chain_of

LATER = timedelta(days=5 * 365)


def later() -> datetime:
    return timezone.now() + LATER


def signal(account: Account, key: str, **kwargs: Any) -> Signal:
    now = timezone.now()
    return Signal.objects.create(
        account=account,
        kind="rate_limit_exceeded",
        severity="medium",
        occurred_at=now,
        source="gateway",
        dedupe_key=key,
        evidence={"rpm": 9000},
        **kwargs,
    )


def dismissed_case_with_evidence(account: Account, actors: dict[str, Actor]) -> Case:
    case = case_in_state(account, "flagged")
    incident = Incident.objects.create(
        account=account,
        case=case,
        kind="rate_limit_exceeded",
        severity="medium",
        first_seen=timezone.now(),
        last_seen=timezone.now(),
        signal_count=1,
    )
    IncidentSignal.objects.create(incident=incident, signal=signal(account, f"in-{case.pk}"))
    item = evidence_item_add(
        case=case.pk,
        upload=EvidenceUpload(content=io.BytesIO(b"log\n"), name="log.txt"),
        actor=actors["analyst"],
    )
    evidence_item_open(item_id=item.pk, actor=actors["lead"], action=CustodyAction.VIEWED)
    return case_transition(case=case, command=VALID_INPUT["dismiss"], actor=actors["lead"])


def hold(actor: Actor, **target: Any) -> Any:
    return legal_hold_place(
        actor=actor,
        reason="Litigation: the customer sued",
        legal_reference="Matter 2026-114",
        review_date=timezone.localdate() + timedelta(days=90),
        **target,
    )


def assert_audit_ok() -> None:
    checked = audit_check(content=True)
    assert checked.problems == []


@pytest.mark.django_db
def test_the_dry_run_counts_what_is_due_and_deletes_nothing(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    signal(account, "lonely-1")
    signal(account, "lonely-2")
    case = dismissed_case_with_evidence(account, actors)

    plan = retention_plan(later())
    out = io.StringIO()
    call_command("purge_expired", "--dry-run", "--now", later().isoformat(), stdout=out)

    assert plan.counts["signals"] == 2
    assert plan.counts["dismissed_cases"] == 1
    incidents = Incident.objects.filter(case=case).count()
    assert (plan.counts["incidents"], plan.counts["case_signals"]) == (incidents, 1)
    assert (plan.counts["evidence_items"], plan.counts["case_custody_events"]) == (1, 2)
    assert "nothing deleted" in out.getvalue() and "signals: 2 past 180 days" in out.getvalue()
    assert Signal.objects.count() == 3 and EvidenceItem.objects.filter(case=case).exists()
    assert not PurgeRecord.objects.exists()


@pytest.mark.django_db
def test_nothing_is_due_before_its_period(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    signal(account, "fresh")
    dismissed_case_with_evidence(account, actors)

    result = purge_expired(now=timezone.now() + timedelta(days=100))

    assert sum(result.counts.values()) == 0
    assert Signal.objects.count() == 2


@pytest.mark.django_db
def test_a_hold_on_the_account_keeps_everything_and_its_release_lets_the_purge_through(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    signal(account, "lonely")
    case = dismissed_case_with_evidence(account, actors)
    item_id, stored = EvidenceItem.objects.values_list("pk", "storage_name").get(case=case)
    incidents = Incident.objects.filter(case=case).count()
    placed = hold(actors["lead"], account=account)

    out = io.StringIO()
    call_command("purge_expired", "--now", later().isoformat(), stdout=out)

    # Nothing of the held account went, and the run says which hold kept what.
    assert Signal.objects.filter(account=account).count() == 2
    assert EvidenceItem.objects.filter(case=case).count() == 1
    assert evidence_storage().exists(stored)
    record = PurgeRecord.objects.get()
    assert sum(record.counts.values()) == 0
    assert record.held == [
        {
            "hold": placed.pk,
            "legal_reference": "Matter 2026-114",
            "on": f"account {account.pk} (Acme AI)",
            "counts": {"dismissed_cases": 1, "signals": 1},
        }
    ]
    assert f"Kept by legal hold {placed.pk} (Matter 2026-114)" in out.getvalue()
    assert not CaseEvent.objects.filter(case=case, action=EventAction.PURGED).exists()

    legal_hold_release(hold=placed, reason="Matter settled", actor=actors["lead"])
    with transaction.atomic():
        result = purge_expired(now=later())

    assert result.counts["signals"] == 1 and result.counts["dismissed_cases"] == 1
    assert not Signal.objects.filter(account=account).exists()
    assert not EvidenceItem.objects.filter(case=case).exists()
    assert not Incident.objects.filter(case=case).exists()
    event = CaseEvent.objects.get(case=case, action=EventAction.PURGED)
    assert event.data["purged"] == {
        "case_custody_events": 2,
        "case_signals": 1,
        "evidence_items": 1,
        "incidents": incidents,
    }
    assert event.data["evidence_items"] == [item_id]
    # The case itself, its timeline and its state stay; the chain still verifies.
    assert Case.objects.get(pk=case.pk).state == "dismissed"
    assert_audit_ok()


@pytest.mark.django_db(transaction=True)
def test_stored_content_goes_once_its_item_is_deleted(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = dismissed_case_with_evidence(account, actors)
    stored = EvidenceItem.objects.get(case=case).storage_name

    purge_expired(now=later())

    assert not evidence_storage().exists(stored)


@pytest.mark.django_db
def test_a_hold_on_a_case_keeps_that_case_only(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    kept = dismissed_case_with_evidence(account, actors)
    hold(actors["lead"], case=kept)
    other = Account.objects.create(external_id="other", name="Other", contacts=["a@b.test"])
    gone = dismissed_case_with_evidence(other, actors)

    result = purge_expired(now=later())

    assert result.counts["dismissed_cases"] == 1
    assert EvidenceItem.objects.filter(case=kept).count() == 1
    assert not EvidenceItem.objects.filter(case=gone).exists()
    assert_audit_ok()


@pytest.mark.django_db
def test_old_custody_events_go_and_the_chain_still_verifies(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "suspended")
    item = evidence_item_add(
        case=case.pk,
        upload=EvidenceUpload(content=io.BytesIO(b"log\n"), name="log.txt"),
        actor=actors["analyst"],
    )
    for _ in range(3):
        evidence_item_open(item_id=item.pk, actor=actors["lead"], action=CustodyAction.VIEWED)

    result = purge_expired(now=later())

    assert result.counts["custody_events"] == 3
    custody = list(CustodyEvent.objects.filter(item=item).order_by("seq"))
    assert [(c.seq, c.action) for c in custody] == [(1, "acquired"), (5, "purged")]
    assert custody[1].reason.startswith("Past retention: custody events 2-4 deleted")
    assert chain_of(item) == []
    # Newer events after the purge, then a second purge: the chain still verifies.
    evidence_item_open(item_id=item.pk, actor=actors["lead"], action=CustodyAction.VIEWED)
    purge_expired(now=later() + timedelta(days=1))
    assert [c.action for c in CustodyEvent.objects.filter(item=item).order_by("seq")] == [
        "acquired",
        "purged",
        "purged",
    ]
    assert chain_of(item) == []
    event = CaseEvent.objects.filter(case=case, action=EventAction.PURGED).first()
    assert event is not None and event.data["purged"] == {"custody_events": 3}
    assert_audit_ok()


@pytest.mark.django_db
def test_a_forged_gap_in_custody_is_still_reported(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "suspended")
    item = evidence_item_add(
        case=case.pk,
        upload=EvidenceUpload(content=io.BytesIO(b"log\n"), name="log.txt"),
        actor=actors["analyst"],
    )
    for _ in range(2):
        evidence_item_open(item_id=item.pk, actor=actors["lead"], action=CustodyAction.VIEWED)
    with transaction.atomic(), purge_allowed(connection):
        CustodyEvent.objects.filter(item=item, seq=2)._raw_delete(connection.alias)

    problems = chain_of(item)
    assert problems and "seq 3 where 2 was expected" in problems[0][1]


@pytest.mark.django_db
def test_done_notices_and_old_attempts_go_and_the_case_records_it(
    account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "suspended")
    notices = list(Notice.objects.filter(case=case))
    assert notices
    for notice in notices:
        DeliveryAttempt.objects.create(notice=notice, succeeded=True, status_code=200)
    Notice.objects.filter(case=case).update(status="delivered", delivered_at=timezone.now())
    pending = Notice.objects.create(case=case, account=account, channel="email", recipient="x@y")

    result = purge_expired(now=later())

    assert result.counts["notices"] == len(notices)
    assert list(Notice.objects.filter(case=case)) == [pending]
    event = CaseEvent.objects.get(case=case, action=EventAction.PURGED)
    assert event.data["purged"] == {"delivery_attempts": len(notices), "notices": len(notices)}
    assert_audit_ok()


@pytest.mark.django_db
def test_outside_a_purge_the_database_refuses_the_delete_and_inside_it_the_update(
    account: Account,
) -> None:
    row = signal(account, "guarded")
    with pytest.raises(DatabaseError), transaction.atomic():
        Signal.objects.filter(pk=row.pk)._raw_delete(connection.alias)
    with pytest.raises(DatabaseError), transaction.atomic(), purge_allowed(connection):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE cases_signal SET summary = 'x' WHERE id = %s", [row.pk])
    with transaction.atomic(), purge_allowed(connection):
        Signal.objects.filter(pk=row.pk)._raw_delete(connection.alias)
    # The allowance ends with the block.
    other = signal(account, "guarded-2")
    with pytest.raises(DatabaseError), transaction.atomic():
        Signal.objects.filter(pk=other.pk)._raw_delete(connection.alias)
    assert list(Signal.objects.values_list("dedupe_key", flat=True)) == ["guarded-2"]


@pytest.mark.django_db
def test_a_bad_time_is_one_line_and_changes_nothing(account: Account) -> None:
    signal(account, "kept")
    with pytest.raises(CommandError, match="not an ISO 8601 time"):
        call_command("purge_expired", "--now", "yesterday")
    assert Signal.objects.count() == 1


@pytest.fixture
def pause_second_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, threading.Event]]:
    """The purge stops before its second batch until the test lets it go on."""
    events = {"reached": threading.Event(), "go": threading.Event()}
    calls = {"n": 0}
    lock = retention_service.holds_lock

    def paused() -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            events["reached"].set()
            assert events["go"].wait(30)
        lock()

    monkeypatch.setattr(retention_service, "holds_lock", paused)
    yield events
    events["go"].set()


@pytest.mark.django_db(transaction=True)
def test_a_hold_placed_during_a_purge_run_holds(
    account: Account,
    policies: Any,
    actors: dict[str, Actor],
    settings: Any,
    pause_second_batch: dict[str, threading.Event],
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks between two connections: PostgreSQL")
    settings.RETENTION_BATCH = 1
    first = signal(account, "first")
    other = Account.objects.create(external_id="later", name="Later", contacts=["a@b.test"])
    signal(other, "second")
    assert first.account_id < other.pk

    failures: list[BaseException] = []

    def run() -> None:
        try:
            purge_expired(now=later())
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    assert pause_second_batch["reached"].wait(30)
    hold(actors["lead"], account=other)
    pause_second_batch["go"].set()
    worker.join(60)

    assert failures == []
    assert list(Signal.objects.values_list("dedupe_key", flat=True)) == ["second"]
    record = PurgeRecord.objects.get()
    assert record.counts == {"signals": 1}
    assert record.held[0]["counts"] == {"signals": 1}
