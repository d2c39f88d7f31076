"""The migration to decisions, run on a database made by the previous schema: every suspension
and termination in force becomes a decision with its restriction, keeping the statement that was
sent; a contactless account's gets one written from its timeline event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management.color import no_style
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cases.selectors import enforcement_get

BEFORE = [
    ("accounts", "0005_external_id_rule"),
    ("cases", "0008_signal_keys_in_c_collation"),
    ("notifications", "0006_sent_notice_truncate_guards"),
]
AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def _migrate(targets: list[tuple[str, str]] | None = None) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    plan_to = targets or executor.loader.graph.leaf_nodes()
    if targets is None:
        applied = list(executor.loader.applied_migrations or {})
        _sequences_past_their_rows(executor.loader.project_state(applied).apps)
    executor.migrate(plan_to)
    return executor.loader.project_state(plan_to).apps


def _sequences_past_their_rows(apps: Any) -> None:
    """Each id sequence moved past the rows its table holds. Rows an earlier test's
    serialized rollback put back keep their ids but leave the sequences where they were, and
    the data migrations that follow insert rows (the ban evasion flag rule)."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(apps.get_models()))
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _case_with_status(apps: Any, external_id: str, status: str, contacts: list[str]) -> Any:
    Account = apps.get_model("accounts", "Account")
    Case = apps.get_model("cases", "Case")
    Event = apps.get_model("cases", "CaseEvent")
    Change = apps.get_model("cases", "EnforcementChange")
    account = Account.objects.create(external_id=external_id, contacts=contacts)
    state = "suspended" if status == "suspended" else "terminated"
    case = Case.objects.create(account=account, state=state, summary="Distillation")
    event = Event.objects.create(
        case=case,
        seq=1,
        at=AT,
        actor_kind="staff",
        acted_by="person",
        actor_label="lead",
        action="suspend" if status == "suspended" else "terminate",
        from_state="flagged" if status == "suspended" else "investigated",
        to_state=state,
        reason="Outputs used to train a competing model",
        policy_versions=[{"code": "competing-model-development", "version": 2}],
        hash="0" * 64,
    )
    Change.objects.create(
        seq=Change.objects.count() + 1,
        account=account,
        case=case,
        event=event,
        status=status,
        previous_status="active",
        at=AT,
    )
    Account.objects.filter(pk=account.pk).update(
        enforcement_status=status, enforcement_since=AT, enforcement_case=case
    )
    return case


@pytest.mark.django_db(transaction=True)
def test_suspensions_and_terminations_in_force_become_decisions() -> None:
    old = _migrate(BEFORE)
    suspended = _case_with_status(old, "acme-ai", "suspended", ["legal@acme.test"])
    terminated = _case_with_status(old, "from-signals", "terminated", [])
    old.get_model("accounts", "Account").objects.create(external_id="quiet")
    sent = {"reference": "sor_" + "a" * 32, "decision": {"text": "as sent"}}
    old.get_model("notifications", "Notice").objects.create(
        case_id=suspended.pk,
        account_id=suspended.account_id,
        channel="email",
        event="suspension",
        recipient="legal@acme.test",
        statement=sent,
        statement_reference=sent["reference"],
    )

    endpoint = old.get_model("notifications", "WebhookEndpoint").objects.create(
        url="https://hooks.example/tns",
        event_types=["enforcement.suspended", "enforcement.reinstated"],
        secret="x",
    )

    new = _migrate()
    Decision = new.get_model("cases", "Decision")
    Restriction = new.get_model("cases", "Restriction")

    kept = Decision.objects.get(case_id=suspended.pk)
    assert (kept.kind, kept.reference, kept.statement) == ("suspend", sent["reference"], sent)
    assert (kept.actor_label, kept.acted_by, kept.decided_at) == ("lead", "person", AT)
    restriction = Restriction.objects.get(decision=kept)
    assert (restriction.kind, restriction.starts_at) == ("suspension", AT)
    assert restriction.ends_at is None

    written = Decision.objects.get(case_id=terminated.pk)
    assert written.kind == "terminate"
    assert written.statement["migrated"] is True
    assert written.statement["reference"] == written.reference
    assert "competing-model-development" in written.statement["ground"]["text"]
    assert Restriction.objects.get(decision=written).kind == "termination"
    assert Decision.objects.count() == 2  # the active account has none

    endpoint = new.get_model("notifications", "WebhookEndpoint").objects.get(pk=endpoint.pk)
    assert endpoint.event_types == [
        "enforcement.suspended",
        "enforcement.restricted",
        "enforcement.reinstated",
    ]

    seen = enforcement_get(external_id="acme-ai")
    assert seen is not None
    assert seen["status"] == "suspended"
    assert [(r["kind"], r["decision"]) for r in seen["restrictions"]] == [
        ("suspension", sent["reference"])
    ]
    terminated_now = enforcement_get(external_id="from-signals")
    assert terminated_now is not None and terminated_now["status"] == "terminated"
