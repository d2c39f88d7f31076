"""cases.intake on its own: validation that does not depend on the HTTP layer."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from cases.intake import BATCH_TABLE, SignalBatchInvalid, signals_ingest, signals_validate
from cases.models import Incident, Signal
from core.actors import Actor

SYSTEM = Actor.system("detector")


def item(**overrides: Any) -> dict[str, Any]:
    body = {
        "account": "acme-ai",
        "kind": "k",
        "severity": "low",
        "occurred_at": "2026-11-25T10:00:00Z",
        "source": "s",
        "dedupe_key": "d",
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("change", "field"),
    [({"kind": "a\x00b"}, "kind"), ({"evidence": {"x": "a\x00"}}, "evidence")],
)
def test_nul_characters_are_refused_per_item(db: None, change: dict[str, Any], field: str) -> None:
    with pytest.raises(SignalBatchInvalid) as failure:
        signals_validate([item(), item(**change)])
    assert [(e["index"], e["field"]) for e in failure.value.fields["errors"]] == [(1, field)]


def test_a_valid_batch_validates(db: None) -> None:
    assert [i.index for i in signals_validate([item(), item(dedupe_key="e")])] == [0, 1]


def test_times_are_kept_in_utc_whatever_their_offset(db: None) -> None:
    (parsed,) = signals_validate([item(occurred_at="2026-07-22T04:12:01+19:34")])
    assert parsed.occurred_at.utcoffset() is not None
    assert parsed.occurred_at.utcoffset().total_seconds() == 0
    assert parsed.occurred_at.isoformat() == "2026-07-21T08:38:01+00:00"


def test_a_time_that_overflows_in_utc_is_refused(db: None) -> None:
    with pytest.raises(SignalBatchInvalid):
        signals_validate([item(occurred_at="0001-01-01T00:00:00+05:00")])


def test_an_account_with_a_nul_character_is_refused_not_looked_up(db: None) -> None:
    with pytest.raises(SignalBatchInvalid) as failure:
        signals_ingest(batch=[item(), item(dedupe_key="e", account="a\x00b")], actor=SYSTEM)
    assert [(e["index"], e["field"]) for e in failure.value.fields["errors"]] == [(1, "account")]
    assert Signal.objects.exists() is False


def test_an_unhashable_severity_is_refused_not_a_server_error(db: None) -> None:
    with pytest.raises(SignalBatchInvalid) as failure:
        signals_validate([item(severity=["high"])])
    assert [e["field"] for e in failure.value.fields["errors"]] == ["severity"]


def mixed_batch(size: int, tag: str, earlier: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``size`` signals: a fifth repeat ``earlier`` ones; the new ones alternate between unknown
    and known accounts and between a kind the count rule watches and another. No account gets
    enough signals for a rule to fire."""
    repeats = earlier[: max(1, size // 5)]
    fresh = [
        item(
            account=f"{tag}-new-{n}" if n % 2 == 0 else f"known-{n}",
            kind="rate_limit_exceeded" if n % 3 == 0 else "prompt_volume",
            source="detector",
            dedupe_key=f"{tag}-{n}",
            evidence={"n": n},
        )
        for n in range(size - len(repeats))
    ]
    return fresh + repeats


@pytest.mark.django_db(transaction=True)
def test_a_batch_takes_the_same_queries_whatever_its_size(require_postgres: None) -> None:
    # Given known accounts and signals stored earlier (a fifth of each batch repeats them)
    Account.objects.bulk_create(Account(external_id=f"known-{n}") for n in range(1000))
    earlier = mixed_batch(250, "earlier", [item()])
    signals_ingest(batch=earlier, actor=SYSTEM)

    # When a batch of 2 and one of 1,000 come in
    with CaptureQueriesContext(connection) as small:
        small_results = signals_ingest(batch=mixed_batch(2, "small", earlier), actor=SYSTEM)
    with CaptureQueriesContext(connection) as large:
        large_results = signals_ingest(batch=mixed_batch(1000, "large", earlier), actor=SYSTEM)

    # Then both take the same statements: accounts read (while validating); in the transaction,
    # unknown ones created and read back, the batch copied, stored and its duplicates read in
    # one statement, then the rules, their open incidents and earlier signals
    assert [r["status"] for r in small_results] == ["stored", "duplicate"]
    assert sum(r["status"] == "duplicate" for r in large_results) == 200
    assert Incident.objects.exists() is False
    assert len(small.captured_queries) == len(large.captured_queries) == 11, [
        q["sql"][:60] for q in large.captured_queries
    ]


def test_batches_in_one_transaction_each_store_their_own_signals(db: None) -> None:
    with transaction.atomic():
        first = signals_ingest(batch=[item(dedupe_key="a")], actor=SYSTEM)
        second = signals_ingest(batch=[item(dedupe_key="b"), item(dedupe_key="a")], actor=SYSTEM)
    assert [r["status"] for r in second] == ["stored", "duplicate"]
    assert second[1]["signal"] == first[0]["signal"]
    assert sorted(Signal.objects.values_list("dedupe_key", flat=True)) == ["a", "b"]
    if connection.vendor == "postgresql":  # the scratch table holds no batch once stored
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {BATCH_TABLE}")
            assert cursor.fetchone() == (0,)
