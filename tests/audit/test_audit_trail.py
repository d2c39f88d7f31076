"""The database refuses to rewrite the audit trail, and verify_audit catches what bypasses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from accounts.models import Account
from cases.guards import GUARDED_TABLES, audit_guard_lifted
from cases.models import CaseEvent, Signal

from ..cases.services.helpers import case_in_state


@contextmanager
def guard_bypassed() -> Iterator[None]:
    """What an attacker with database access could do: skip the triggers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = origin")
    else:
        with audit_guard_lifted():
            yield


@pytest.mark.django_db
@pytest.mark.parametrize("table", GUARDED_TABLES)
@pytest.mark.parametrize("statement", ["UPDATE {t} SET id = id", "DELETE FROM {t}"])
def test_raw_sql_cannot_change_or_delete_audit_rows(
    table: str, statement: str, account: Account, policies: Any
) -> None:
    case_in_state(account, "suspended")
    Signal.objects.create(
        account=account,
        kind="rate_limit_exceeded",
        severity="low",
        occurred_at=timezone.now(),
        source="gateway",
        dedupe_key="k1",
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")  # fixed table names
        (before,) = cursor.fetchone()
    assert before > 0
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement.format(t=table))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        assert cursor.fetchone()[0] == before


@pytest.mark.django_db
def test_verify_audit_names_the_tampered_case_and_event(
    account: Account, policies: Any, capsys: Any
) -> None:
    clean = case_in_state(account, "dismissed")
    other = Account.objects.create(external_id="other")
    tampered = case_in_state(other, "remediated")
    target = CaseEvent.objects.get(case=tampered, action="suspend")
    with guard_bypassed(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cases_caseevent SET reason = %s WHERE id = %s", ["nothing to see", target.pk]
        )

    call_command("verify_audit", "--case", str(clean.pk))
    with pytest.raises(CommandError) as raised:
        call_command("verify_audit")
    out = capsys.readouterr().out
    assert f"case {tampered.pk} event {target.pk} (seq {target.seq})" in out
    assert f"case {clean.pk} " not in out
    assert f"({tampered.pk})" in str(raised.value)


@pytest.mark.django_db
def test_deleted_event_breaks_the_chain(account: Account, policies: Any, capsys: Any) -> None:
    case = case_in_state(account, "remediated")
    victim = CaseEvent.objects.get(case=case, action="investigate")
    with guard_bypassed(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM cases_caseevent WHERE id = %s", [victim.pk])
    with pytest.raises(CommandError):
        call_command("verify_audit")
    assert f"case {case.pk} " in capsys.readouterr().out


@pytest.mark.django_db
def test_export_verifies_on_its_own_and_detects_edits(
    account: Account, policies: Any, tmp_path: Path
) -> None:
    case = case_in_state(account, "terminated")
    path = tmp_path / "case.json"
    call_command("export_case", str(case.pk), "--output", str(path))
    document = json.loads(path.read_text())
    assert document["integrity"]["chain_ok"] is True
    assert [e["action"] for e in document["timeline"]] == [
        "open",
        "suspend",
        "investigate",
        "terminate",
    ]
    assert {(v["code"], v["version"]) for v in document["policy_versions"]} == {
        ("rate-limit-evasion", 2)
    }
    call_command("verify_audit", "--export", str(path))

    document["timeline"][2]["reason"] = "softened findings"
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError):
        call_command("verify_audit", "--export", str(path))


@pytest.mark.django_db
def test_export_of_unknown_case_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_case", "424242")


@pytest.mark.django_db
def test_sent_notices_keep_what_they_said_and_attempts_are_append_only(
    account: Account, policies: Any
) -> None:
    from notifications.models import DeliveryAttempt, Notice

    case_in_state(account, "suspended")
    notice = Notice.objects.filter(event="suspension").first()
    assert notice is not None
    DeliveryAttempt.objects.create(notice=notice, succeeded=False, error="timeout")
    refused = [
        ("UPDATE notifications_notice SET subject = %s WHERE id = %s", ["rewritten", notice.pk]),
        ("UPDATE notifications_notice SET statement = %s WHERE id = %s", ["{}", notice.pk]),
        ("DELETE FROM notifications_notice WHERE id = %s", [notice.pk]),
        ("UPDATE notifications_deliveryattempt SET error = %s", ["none"]),
        ("DELETE FROM notifications_deliveryattempt", []),
    ]
    for sql, params in refused:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    # Delivery state is not content: it moves as the notice is sent.
    Notice.objects.filter(pk=notice.pk).update(status="delivered", attempts=1)
    notice.refresh_from_db()
    assert (notice.status, notice.subject != "rewritten") == ("delivered", True)
    assert DeliveryAttempt.objects.filter(notice=notice, error="timeout").count() == 1


@pytest.mark.django_db
def test_who_stood_behind_an_event_is_in_its_hash(
    account: Account, policies: Any, capsys: Any
) -> None:
    case = case_in_state(account, "suspended")
    target = CaseEvent.objects.get(case=case, action="suspend")
    assert target.acted_by == "automation"  # the system took it
    call_command("verify_audit", "--case", str(case.pk))
    with guard_bypassed(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cases_caseevent SET acted_by = %s WHERE id = %s", ["person", target.pk]
        )
    with pytest.raises(CommandError):
        call_command("verify_audit", "--case", str(case.pk))
    assert f"case {case.pk} event {target.pk} (seq {target.seq})" in capsys.readouterr().out
