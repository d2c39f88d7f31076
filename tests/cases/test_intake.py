"""cases.intake on its own: validation that does not depend on the HTTP layer."""

from __future__ import annotations

from typing import Any

import pytest

from cases.intake import SignalBatchInvalid, signals_validate


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
