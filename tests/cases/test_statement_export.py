"""``export_statements``: a termination, a rate limit and an appealed-then-overturned suspension
exported in the Transparency Database's schema, every statement checked against the database's
rules (``tdb_rules``); ``--submit`` to a local fake of its API sends each puid once, also when
run twice, in batches of at most 100, and splits and retries a batch refused for a puid the
database already holds."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from accounts.models import Account
from cases.actions import AppealDecide, AppealFile, RestrictionSpec, Suspend, Terminate
from cases.models import Decision, StatementSubmission
from cases.services import (
    appeal_decide,
    appeal_file,
    approval_approve,
    case_act,
    case_open,
    case_transition,
)
from cases.services.statement_submissions import statements_submit
from cases.transparency import ExportedStatement, TransparencyClient, tdb_payload
from core.actors import Actor
from tests.cases.services.helpers import case_in_state
from tests.cases.tdb_rules import violations
from tests.conftest import make_user

TOKEN = "tdb-test-token"
PORT = 18420
SINCE, UNTIL = "2000-01-01", "2100-01-01"


class FakeTransparencyDatabase:
    """The API's multiple-statements endpoint, on loopback: a bearer token, 1 to 100 valid
    statements a call, puids unique per platform. ``name_existing``: its refusal lists the puids
    it holds (``errors.existing_puids``), as the API does; else it names none."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.calls: list[list[str]] = []
        self.name_existing = True
        self.fail_next: list[int] = []
        self.lock = threading.Lock()

    def answer(self, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "Unauthenticated."}
        statements = json.loads(body).get("statements")
        with self.lock:
            self.calls.append([s.get("puid") for s in statements or []])
            if self.fail_next:
                return self.fail_next.pop(0), {"message": "Service unavailable"}
            if not isinstance(statements, list) or not 1 <= len(statements) <= 100:
                return 422, {"errors": {"statements": ["between 1 and 100"]}}
            errors = {
                f"statements.{i}": problems
                for i, s in enumerate(statements)
                if (problems := violations(s))
            }
            if errors:
                return 422, {"message": "invalid", "errors": errors}
            existing = [s["puid"] for s in statements if s["puid"] in self.stored]
            if existing:
                message = "The platform identifier(s) are not all unique within this call."
                refusal: dict[str, Any] = {"puid": [message]}
                if self.name_existing:
                    refusal["existing_puids"] = existing
                return 422, {"message": message, "errors": refusal}
            for s in statements:
                self.stored[s["puid"]] = s
            return 201, {"statements": statements}


@pytest.fixture
def tdb() -> Iterator[tuple[FakeTransparencyDatabase, str]]:
    fake = FakeTransparencyDatabase()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status, answer = fake.answer(self.headers, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{PORT}/api/v1/statements"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def decided(account: Account, policies: Any, users: dict[str, User]) -> dict[str, Decision]:
    """A termination (four eyes), a rate limit and a suspension overturned on appeal."""
    lead, second = Actor.for_user(users["lead"]), Actor.for_user(make_user("lead", "lead2"))
    investigated = case_in_state(account, "investigated")
    approval = case_act(
        case=investigated,
        command=Terminate(rationale="Repeated, deliberate breach", policies=["rate-limit-evasion"]),
        actor=lead,
    )
    approval_approve(approval=approval.pk, actor=second, comment="Agreed")  # type: ignore[union-attr]

    limited_account = Account.objects.create(external_id="slow-co", name="Slow", contacts=[])
    limited = case_open(account=limited_account, summary="s", actor=Actor.system())
    case_transition(
        case=limited,
        command=Suspend(
            reason="Above the agreed rate",
            policies=["rate-limit-evasion"],
            restriction=RestrictionSpec(kind="rate_limit", requests_per_minute=10),
        ),
        actor=Actor.system(),
    )
    appealed_account = Account.objects.create(external_id="appeal-co", name="Ap", contacts=[])
    appealed = case_open(account=appealed_account, summary="s", actor=Actor.system())
    case_transition(
        case=appealed,
        command=Suspend(reason="Distilling", policies=["competing-model-development"]),
        actor=lead,
    )
    suspension = Decision.objects.get(case=appealed, kind="suspend")
    appeal = appeal_file(
        decision=suspension,
        command=AppealFile(reason="Not us", submitted_by="cto@appeal.test"),
        actor=Actor.system("portal"),
    )
    appeal_decide(
        appeal=appeal,
        command=AppealDecide(outcome="overturned", reason="Shared egress IP"),
        actor=Actor.for_user(users["investigator"]),
    )
    return {
        "termination": Decision.objects.get(case=investigated, kind="terminate"),
        "rate_limit": Decision.objects.get(case=limited),
        "appealed": suspension,
        "overturned": Decision.objects.get(case=appealed, kind="appeal_overturned"),
    }


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_statements", "--since", SINCE, "--until", UNTIL, *args, stdout=out)
    return out.getvalue()


def restrictive() -> list[Decision]:
    return [d for d in Decision.objects.order_by("decided_at", "pk") if d.statement.get("dsa")]


def test_every_exported_statement_follows_the_databases_rules(
    decided: dict[str, Decision],
) -> None:
    lines = export("--format", "ndjson").splitlines()
    statements = [json.loads(line) for line in lines]
    assert statements, "nothing exported"
    for statement in statements:
        assert violations(statement) == [], statement
    by_puid = {s["puid"]: s for s in statements}
    # One per decision that restricted, in order; the appeal's outcome (which lifts) is none.
    assert list(by_puid) == [d.reference for d in restrictive()]
    assert decided["overturned"].reference not in by_puid
    termination = by_puid[decided["termination"].reference]
    assert termination["decision_account"] == "DECISION_ACCOUNT_TERMINATED"
    assert termination["decision_provision"] == "DECISION_PROVISION_TOTAL_TERMINATION"
    rate_limit = by_puid[decided["rate_limit"].reference]
    assert rate_limit["decision_provision"] == "DECISION_PROVISION_PARTIAL_SUSPENSION"
    assert "decision_account" not in rate_limit
    assert rate_limit["automated_decision"] == "AUTOMATED_DECISION_FULLY"
    appealed = by_puid[decided["appealed"].reference]
    assert appealed["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert appealed["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    # The JSON format holds the same statements.
    assert json.loads(export("--format", "json")) == statements


def test_the_period_bounds_the_export(decided: dict[str, Decision]) -> None:
    first = restrictive()[0]
    out = io.StringIO()
    since = first.decided_at.isoformat()
    until = restrictive()[1].decided_at.isoformat()
    call_command(
        "export_statements", "--since", since, "--until", until, "--format", "ndjson", stdout=out
    )
    assert [json.loads(line)["puid"] for line in out.getvalue().splitlines()] == [first.reference]


def test_long_texts_are_fitted_to_the_databases_limits(
    decided: dict[str, Decision], policies: Any
) -> None:
    dsa = dict(decided["termination"].statement["dsa"])
    dsa["incompatible_content_explanation"] = "x" * 5000
    dsa["incompatible_content_ground"] = "y" * 900
    payload = tdb_payload(dsa)
    assert violations(payload) == []
    assert len(payload["incompatible_content_explanation"]) == 2000
    assert payload["incompatible_content_explanation"].endswith("…")


def test_submit_sends_each_puid_once_also_when_run_twice(
    decided: dict[str, Decision],
    tdb: tuple[FakeTransparencyDatabase, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url = tdb
    monkeypatch.setenv("DSA_TDB_TOKEN", TOKEN)
    wanted = [d.reference for d in restrictive()]
    first = export("--submit", url)
    assert f"{len(wanted)} statement(s) created" in first
    assert fake.calls == [wanted]
    assert sorted(fake.stored) == sorted(wanted)
    records = StatementSubmission.objects.filter(endpoint=url)
    assert sorted(records.values_list("puid", flat=True)) == sorted(wanted)
    assert set(records.values_list("outcome", flat=True)) == {"created"}
    assert {r.decision.reference for r in records} == set(wanted)

    second = export("--submit", url)
    assert f"0 statement(s) created, 0 already present, {len(wanted)} sent before" in second
    assert fake.calls == [wanted]
    assert records.count() == len(wanted)


@pytest.mark.parametrize("name_existing", [True, False])
def test_a_batch_refused_for_an_existing_puid_is_split_and_retried(
    decided: dict[str, Decision],
    tdb: tuple[FakeTransparencyDatabase, str],
    monkeypatch: pytest.MonkeyPatch,
    name_existing: bool,
) -> None:
    """A run stopped after the database stored a statement and before it was recorded: the next
    run's batch is refused for that puid; the others get in, that one is recorded as there."""
    fake, url = tdb
    fake.name_existing = name_existing
    monkeypatch.setenv("DSA_TDB_TOKEN", TOKEN)
    wanted = [d.reference for d in restrictive()]
    held = wanted[1]
    fake.stored[held] = {"puid": held}

    export("--submit", url)

    assert sorted(fake.stored) == sorted(wanted)
    outcomes = dict(StatementSubmission.objects.filter(endpoint=url).values_list("puid", "outcome"))
    assert outcomes == {p: ("already_present" if p == held else "created") for p in wanted}
    if not name_existing:
        # Halves until the refused one stands alone.
        assert [held] in fake.calls
    calls = len(fake.calls)
    export("--submit", url)
    assert len(fake.calls) == calls


def test_batches_hold_at_most_100(
    decided: dict[str, Decision], tdb: tuple[FakeTransparencyDatabase, str]
) -> None:
    fake, url = tdb
    base = decided["termination"]
    payload = tdb_payload(base.statement["dsa"])
    statements = [
        ExportedStatement(decision_id=base.pk, payload={**payload, "puid": f"sor_bulk_{i}"})
        for i in range(250)
    ]
    client = TransparencyClient(url, TOKEN)
    try:
        result = statements_submit(client=client, statements=statements, batch_size=1000)
    finally:
        client.close()
    assert [len(call) for call in fake.calls] == [100, 100, 50]
    assert result.created == 250 and len(fake.stored) == 250


def test_a_server_error_is_retried(
    decided: dict[str, Decision],
    tdb: tuple[FakeTransparencyDatabase, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url = tdb
    fake.fail_next = [503]
    monkeypatch.setenv("DSA_TDB_TOKEN", TOKEN)
    export("--submit", url)
    assert len(fake.calls) == 2
    assert sorted(fake.stored) == sorted(d.reference for d in restrictive())


def test_refusals_record_nothing(
    decided: dict[str, Decision],
    tdb: tuple[FakeTransparencyDatabase, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake, url = tdb
    monkeypatch.delenv("DSA_TDB_TOKEN", raising=False)
    with pytest.raises(CommandError, match="DSA_TDB_TOKEN"):
        export("--submit", url)
    assert fake.calls == []
    monkeypatch.setenv("DSA_TDB_TOKEN", "wrong")
    with pytest.raises(CommandError, match="HTTP 401"):
        export("--submit", url)
    assert fake.stored == {}
    fake.fail_next = [503, 503, 503]
    monkeypatch.setenv("DSA_TDB_TOKEN", TOKEN)
    with pytest.raises(CommandError, match="HTTP 503"):
        export("--submit", url)
    assert fake.stored == {}
    assert not StatementSubmission.objects.exists()
    with pytest.raises(CommandError, match="not a date"):
        call_command("export_statements", "--since", "yesterday", "--until", UNTIL)
    with pytest.raises(CommandError, match="after"):
        call_command("export_statements", "--since", UNTIL, "--until", SINCE)
    with pytest.raises(CommandError, match="http"):
        export("--submit", "ftp://127.0.0.1/x")
    assert not StatementSubmission.objects.exists()
