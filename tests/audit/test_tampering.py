"""What a database superuser can do around the guards, and verify_audit naming each of it.

On PostgreSQL these tests tamper exactly as such a user would: ``SET session_replication_role =
replica`` (which skips every trigger, the foreign keys' included), then UPDATE, DELETE or
TRUNCATE. On SQLite the guard is lifted instead. Each ends with verify_audit's non-zero exit and
a line naming the table, the row and what is wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import Account
from cases.actions import Evidence, Investigate, Suspend
from cases.audit import EVENT_HASH_FIELDS, event_hash
from cases.guards import TRUNCATE_GUARDED_TABLES
from cases.models import CaseEvent, CaseNote, EnforcementChange, EvidenceReference, Signal
from cases.services import case_evidence_add, case_note_add, case_transition
from cases.services.holds import legal_hold_place
from cases.services.retention import purge_expired
from core.actors import Actor
from notifications.models import DeliveryAttempt, Notice

from ..cases.services.helpers import case_in_state
from ..conftest import make_user
from .test_audit_trail import guard_bypassed


def sql(statement: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def truncate(statement: str) -> None:
    """TRUNCATE inside the test's transaction: PostgreSQL refuses to truncate a table with
    foreign-key checks still pending, so run them first (as a committed write would have)."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")  # runs the pending checks now
    sql("SET CONSTRAINTS ALL DEFERRED")
    sql(statement)


def count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")  # fixed table names
        return int(cursor.fetchone()[0])


def verify_fails(capsys: Any, *args: str) -> tuple[str, str]:
    """Run verify_audit, which must fail; its printed problems and its one-line error."""
    capsys.readouterr()
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit", *args)
    return capsys.readouterr().out, str(raised.value)


def verify_ok(capsys: Any) -> str:
    capsys.readouterr()
    call_command("verify_audit")
    out = capsys.readouterr().out
    assert out.startswith("OK: "), out
    return out


# --- the case's state and the account's status against the timeline ---------------------------


@pytest.mark.django_db
def test_deleting_a_case_s_last_event_is_reported(
    account: Account, policies: Any, capsys: Any
) -> None:
    case = case_in_state(account, "terminated")
    last = CaseEvent.objects.get(case=case, action="terminate")
    change = EnforcementChange.objects.get(event=last)
    verify_ok(capsys)
    with guard_bypassed():
        sql("DELETE FROM cases_caseevent WHERE id = %s", [last.pk])

    out, error = verify_fails(capsys)
    assert (
        f"cases_case case {case.pk}: state is 'terminated' but its timeline ends in "
        "'investigated'" in out
    )
    assert (
        f"cases_enforcementchange seq {change.seq} of case {case.pk}: names event {last.pk}, "
        "which is not an event of case" in out
    )
    assert f"({case.pk})" in error
    # Put the event back: SQLite checks the foreign keys when the test's transaction ends.
    CaseEvent.objects.bulk_create([last])


@pytest.mark.django_db
def test_enforcement_status_set_by_hand_is_reported(
    account: Account, policies: Any, capsys: Any
) -> None:
    case_in_state(account, "suspended")
    other = Account.objects.create(external_id="bystander")
    case_in_state(other, "dismissed")
    verify_ok(capsys)
    # No guard on accounts (their status moves): any user of the database can do this.
    sql("UPDATE accounts_account SET enforcement_status = 'active' WHERE id = %s", [account.pk])

    out, error = verify_fails(capsys)
    subject = f"accounts_account 'acme-ai' (id {account.pk})"
    assert (
        f"{subject}: enforcement_status is 'active' but its restrictions in force make it "
        "'suspended'" in out
    )
    assert f"{subject}: enforcement_status is 'active' but its last enforcement change" in out
    assert "bystander" not in out
    assert "1 account(s) (acme-ai)" in error


@pytest.mark.django_db
def test_case_state_and_account_status_both_set_by_hand_are_reported(
    account: Account, policies: Any, capsys: Any
) -> None:
    """Lifting a suspension by hand, case and account together, still disagrees with the log."""
    case = case_in_state(account, "suspended")
    sql("UPDATE cases_case SET state = 'dismissed' WHERE id = %s", [case.pk])
    sql("UPDATE accounts_account SET enforcement_status = 'active' WHERE id = %s", [account.pk])

    out, _ = verify_fails(capsys)
    assert f"cases_case case {case.pk}: state is 'dismissed' but its timeline ends in" in out
    assert (
        f"accounts_account 'acme-ai' (id {account.pk}): enforcement_status is 'active' but" in out
    )


@pytest.mark.django_db
def test_a_deleted_enforcement_change_is_reported(
    account: Account, policies: Any, capsys: Any
) -> None:
    case = case_in_state(account, "remediated")
    changes = list(EnforcementChange.objects.filter(case=case).order_by("seq"))
    assert [c.status for c in changes] == ["suspended", "active"]
    with guard_bypassed():
        # The rows that reference it go too, as a tamperer covering their tracks would do.
        sql(
            "UPDATE notifications_notice SET propagation_id = NULL WHERE propagation_id IN "
            "(SELECT id FROM notifications_propagation WHERE change_id = %s)",
            [changes[0].pk],
        )
        sql("DELETE FROM notifications_propagation WHERE change_id = %s", [changes[0].pk])
        sql("DELETE FROM cases_enforcementchange WHERE seq = %s", [changes[0].seq])

    out, _ = verify_fails(capsys)
    assert f"cases_enforcementchange seq {changes[0].seq}: missing" in out
    assert (
        f"cases_enforcementchange seq {changes[1].seq} of account 'acme-ai': previous_status "
        "is 'suspended' but the change before it left the account 'active'" in out
    )


# --- TRUNCATE -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    # CASCADE: without it, a table that others reference is refused before any trigger runs.
    [f"TRUNCATE {t} CASCADE" for t in TRUNCATE_GUARDED_TABLES]
    + ["TRUNCATE cases_case CASCADE", "TRUNCATE accounts_account CASCADE"],
)
def test_truncate_is_refused_to_the_application(
    statement: str, require_postgres: None, account: Account, policies: Any
) -> None:
    case = case_in_state(account, "investigated")
    case_note_add(case=case, body="seen", actor=Actor.system("test"))
    case_evidence_add(case=case, reference="logs://1", actor=Actor.system("test"))
    Signal.objects.create(
        account=account,
        kind="rate_limit_exceeded",
        severity="low",
        occurred_at=timezone.now(),
        source="gateway",
        dedupe_key="k1",
    )
    notice = Notice.objects.filter(case=case).first()
    assert notice is not None
    DeliveryAttempt.objects.create(notice=notice, succeeded=False, error="timeout")
    legal_hold_place(
        actor=Actor.system("test"),
        account=account,
        reason="litigation",
        legal_reference="Matter 1",
        review_date=timezone.localdate(),
    )
    purge_expired()  # nothing due: a purge record of zeros
    before = {table: count(table) for table in TRUNCATE_GUARDED_TABLES}
    assert all(before.values()), before
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"):
        with transaction.atomic():
            truncate(statement)
    assert {table: count(table) for table in TRUNCATE_GUARDED_TABLES} == before


@pytest.mark.django_db
def test_truncated_timeline_and_changes_are_reported(
    account: Account, policies: Any, capsys: Any
) -> None:
    suspended = case_in_state(account, "suspended")
    other = Account.objects.create(external_id="other")
    flagged = case_in_state(other, "flagged")
    assert EnforcementChange.objects.count() == 1
    with guard_bypassed():
        if connection.vendor == "postgresql":
            truncate("TRUNCATE cases_caseevent CASCADE")  # empties cases_enforcementchange too
        else:
            sql("UPDATE notifications_notice SET propagation_id = NULL")
            sql("DELETE FROM notifications_propagation")
            sql("DELETE FROM cases_enforcementchange")
            sql("DELETE FROM cases_restriction")
            sql("DELETE FROM cases_decision")
            sql("DELETE FROM cases_custodyevent")  # the snapshot's, which names its event
            sql("DELETE FROM cases_evidenceitem")
            sql("DELETE FROM cases_caseevent")
    assert count("cases_enforcementchange") == 0

    out, error = verify_fails(capsys)
    for case in (suspended, flagged):
        assert f"cases_case case {case.pk}: has no timeline" in out
    assert "cases_enforcementchange seq 1: missing: the feed counter is at 1" in out
    assert f"accounts_account 'acme-ai' (id {account.pk}): enforcement_status is 'suspended'" in out
    assert "over 0 events" in error


# --- who acted is in the hash -------------------------------------------------------------------


@pytest.mark.django_db
def test_repointing_who_acted_is_reported(account: Account, policies: Any, capsys: Any) -> None:
    analyst, other = make_user("analyst"), make_user("analyst", "someone-else")
    case = case_in_state(account, "flagged")
    case = case_transition(
        case=case,
        command=Suspend(reason="Burst", policies=["rate-limit-evasion"]),
        actor=Actor.for_user(analyst),
    )
    event = CaseEvent.objects.get(case=case, action="suspend")
    assert (event.actor_user_id, event.hash_version) == (analyst.pk, 2)
    verify_ok(capsys)
    with guard_bypassed():
        sql("UPDATE cases_caseevent SET actor_user_id = %s WHERE id = %s", [other.pk, event.pk])

    out, _ = verify_fails(capsys)
    assert (
        f"cases_caseevent case {case.pk} event {event.pk} (seq {event.seq}): content does not "
        "match its hash" in out
    )


def _rehash_as_version_1(event: CaseEvent, prev_hash: str) -> str:
    """What events written before who-acted was hashed look like (and a forger's downgrade)."""
    content = {name: getattr(event, name) for name in EVENT_HASH_FIELDS}
    digest = event_hash(prev_hash, {**content, "hash_version": 1})
    sql(
        "UPDATE cases_caseevent SET hash_version = 1, prev_hash = %s, hash = %s WHERE id = %s",
        [prev_hash, digest, event.pk],
    )
    return digest


@pytest.mark.django_db
def test_events_hashed_before_actors_were_still_verify_and_a_downgrade_is_reported(
    account: Account, policies: Any, capsys: Any
) -> None:
    old = case_in_state(account, "suspended")
    with guard_bypassed():  # the events as version 1 wrote them
        previous = ""
        for event in CaseEvent.objects.filter(case=old).order_by("seq"):
            previous = _rehash_as_version_1(event, previous)
    assert set(CaseEvent.objects.values_list("hash_version", flat=True)) == {1}
    verify_ok(capsys)

    new = case_in_state(Account.objects.create(external_id="later"), "suspended")
    verify_ok(capsys)
    last = CaseEvent.objects.filter(case=new).order_by("-seq").first()
    assert last is not None and last.hash_version == 2
    with guard_bypassed():
        # Re-point who acted, and hash the last event as version 1 so its hash still matches.
        sql(
            "UPDATE cases_caseevent SET actor_user_id = %s WHERE id = %s",
            [make_user(None).pk, last.pk],
        )
        last.refresh_from_db()
        _rehash_as_version_1(last, last.prev_hash)

    out, _ = verify_fails(capsys)
    assert (
        f"cases_caseevent case {new.pk} event {last.pk} (seq {last.seq}): hash version 1 after "
        "version 2 in the same timeline" in out
    )
    assert f"case {old.pk} " not in out


@pytest.mark.django_db
def test_an_export_carries_who_acted_and_verifies(
    account: Account, policies: Any, tmp_path: Any
) -> None:
    import json

    lead = make_user("lead")
    case = case_in_state(account, "flagged")
    case_note_add(case=case, body="seen", actor=Actor.for_user(lead))
    path = tmp_path / "case.json"
    call_command("export_case", str(case.pk), "--output", str(path))
    call_command("verify_audit", "--export", str(path))
    document = json.loads(path.read_text())
    assert document["timeline"][-1]["actor_user_id"] == lead.pk
    document["timeline"][-1]["actor_user_id"] = lead.pk + 1
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError):
        call_command("verify_audit", "--export", str(path))


# --- notes and evidence -------------------------------------------------------------------------


@pytest.fixture
def records(account: Account, policies: Any) -> dict[str, Any]:
    actor = Actor.system("test")
    case = case_in_state(account, "suspended")
    case = case_transition(
        case=case,
        command=Investigate(
            findings="Seen",
            violation_confirmed=True,
            evidence=[
                Evidence(reference="logs://query/1"),
                Evidence(reference="s3://bucket/2", description="dump"),
            ],
        ),
        actor=actor,
    )
    note = case_note_add(case=case, body="Called the customer", actor=actor)
    evidence = case_evidence_add(
        case=case, reference="ticket://77", description="support", actor=actor
    )
    return {"case": case, "note": note, "evidence": evidence}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE cases_casenote SET body = 'forged'",
        "DELETE FROM cases_casenote",
        "UPDATE cases_evidencereference SET reference = 'forged'",
        "DELETE FROM cases_evidencereference",
    ],
)
def test_notes_and_evidence_refuse_update_and_delete(
    statement: str, records: dict[str, Any]
) -> None:
    before = {
        "notes": list(CaseNote.objects.values_list("id", "body")),
        "evidence": list(EvidenceReference.objects.values_list("id", "reference")),
    }
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            sql(statement)
    assert list(CaseNote.objects.values_list("id", "body")) == before["notes"]
    assert list(EvidenceReference.objects.values_list("id", "reference")) == before["evidence"]


@pytest.mark.django_db
def test_edited_notes_and_evidence_are_reported(records: dict[str, Any], capsys: Any) -> None:
    case, note, added = records["case"], records["note"], records["evidence"]
    from_investigation = EvidenceReference.objects.get(case=case, reference="s3://bucket/2")
    verify_ok(capsys)
    with guard_bypassed():
        sql("UPDATE cases_casenote SET body = 'Nothing found' WHERE id = %s", [note.pk])
        sql("UPDATE cases_evidencereference SET reference = 'x' WHERE id = %s", [added.pk])
        sql(
            "UPDATE cases_evidencereference SET description = 'benign' WHERE id = %s",
            [from_investigation.pk],
        )

    out, error = verify_fails(capsys)
    note_event = CaseEvent.objects.get(case=case, action="note")
    evidence_event = CaseEvent.objects.get(case=case, action="evidence")
    investigate = CaseEvent.objects.get(case=case, action="investigate")
    assert (
        f"cases_casenote note {note.pk} of case {case.pk}: body differ(s) from what event "
        f"{note_event.pk} (seq {note_event.seq}) recorded" in out
    )
    assert (
        f"cases_evidencereference evidence reference {added.pk} of case {case.pk}: reference "
        f"differ(s) from what event {evidence_event.pk} (seq {evidence_event.seq}) recorded" in out
    )
    assert (
        f"cases_evidencereference evidence reference {from_investigation.pk} of case {case.pk}: "
        f"description differ(s) from what event {investigate.pk}" in out
    )
    assert out.count("\n") == 3
    assert f"({case.pk})" in error


@pytest.mark.django_db
def test_deleted_and_forged_notes_and_evidence_are_reported(
    records: dict[str, Any], capsys: Any
) -> None:
    case, note, added = records["case"], records["note"], records["evidence"]
    with guard_bypassed():
        sql("DELETE FROM cases_casenote WHERE id = %s", [note.pk])
        sql("DELETE FROM cases_evidencereference WHERE id = %s", [added.pk])
    # INSERT is allowed (the tables are append-only), but a row no event records is a forgery.
    forged = CaseNote.objects.create(case=case, author="lead", body="Customer admitted it")

    out, _ = verify_fails(capsys)
    assert f"cases_casenote note {note.pk} of case {case.pk}: recorded by event" in out
    assert "but missing (deleted, or moved to another case)" in out
    assert (
        f"cases_evidencereference evidence reference {added.pk} of case {case.pk}: recorded" in out
    )
    assert (
        f"cases_casenote note {forged.pk} of case {case.pk}: no event of its case records it" in out
    )


def test_evidence_recorded_before_ids_were_is_matched_by_content() -> None:
    """Investigations recorded their references without ids: the rows are matched by content."""
    from cases.audit_verify import EVIDENCE, _recorded_rows, records_check

    at = timezone.now()
    event = {
        "id": 9,
        "seq": 3,
        "action": "investigate",
        "at": at,
        "actor_label": "ann",
        "data": {"evidence": [{"reference": "logs://1", "description": ""}]},
    }
    row = {
        "id": 4,
        "case_id": 1,
        "reference": "logs://1",
        "description": "",
        "added_by": "ann",
        "created_at": at,
        "corrects_id": None,
    }
    _, expected = _recorded_rows([event])
    assert list(records_check(EVIDENCE, "evidence reference", 1, expected, [row])) == []
    changed = {**row, "reference": "logs://2"}
    problems = [
        str(p) for p in records_check(EVIDENCE, "evidence reference", 1, expected, [changed])
    ]
    assert problems == [
        "cases_evidencereference of case 1: event 9 (seq 3) recorded evidence reference "
        "'logs://1' but no row matches it (deleted or changed outside the service)",
        "cases_evidencereference evidence reference 4 of case 1: no event of its case records it "
        "(inserted or changed outside the service)",
    ]


# --- flush keeps working, and leaves the guards on ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_flush_lifts_the_truncate_guards_only_for_itself(
    require_postgres: None, account: Account, policies: Any
) -> None:
    case_in_state(account, "suspended")
    call_command("flush", "--no-input")
    assert count("cases_caseevent") == 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = c.relname || '_no_truncate'"
        )
        triggers = dict(cursor.fetchall())
    assert triggers == {table: "O" for table in TRUNCATE_GUARDED_TABLES}
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"):
        with transaction.atomic():
            sql("TRUNCATE cases_caseevent CASCADE")


@pytest.mark.django_db
def test_verify_audit_runs_a_fixed_number_of_queries(
    account: Account, policies: Any, capsys: Any
) -> None:
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            call_command("verify_audit")
        return len(captured)

    case = case_in_state(account, "investigated")
    case_note_add(case=case, body="n", actor=Actor.system("test"))
    small = queries()
    for n in range(6):
        grown = case_in_state(Account.objects.create(external_id=f"a-{n}"), "remediated")
        case_note_add(case=grown, body="n", actor=Actor.system("test"))
        case_evidence_add(case=grown, reference=f"logs://{n}", actor=Actor.system("test"))
    assert queries() == small
    assert "OK: 40 events of 7 cases, 7 notes, 6 evidence references" in capsys.readouterr().out
