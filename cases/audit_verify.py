"""Recompute the timeline's hash chains and name every case and event that does not match."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .audit import EVENT_HASH_FIELDS, HASH_FIELDS, LATER_HASH_FIELDS, event_hash
from .models import CaseEvent


@dataclass(frozen=True)
class Mismatch:
    case_id: int
    event_id: int | None
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"case {self.case_id} event {self.event_id} (seq {self.seq}): {self.problem}"


def chain_check(events: Iterable[dict[str, Any]]) -> Iterator[Mismatch]:
    """Check events given oldest first per case, as dicts with EVENT_HASH_FIELDS, id, prev_hash
    and hash."""
    case_id: int | None = None
    previous = ""
    expected_seq = 1
    for event in events:
        if event["case_id"] != case_id:
            case_id, previous, expected_seq = event["case_id"], "", 1
        problems = []
        if event["seq"] != expected_seq:
            problems.append(f"expected seq {expected_seq}: an event is missing or duplicated")
        if event["prev_hash"] != previous:
            problems.append("prev_hash does not match the previous event's hash")
        content = {name: event[name] for name in HASH_FIELDS}
        content.update({name: event.get(name) for name in LATER_HASH_FIELDS})
        if event["hash"] != event_hash(event["prev_hash"], content):
            problems.append("content does not match its hash (edited after it was written)")
        for problem in problems:
            yield Mismatch(event["case_id"], event.get("id"), event["seq"], problem)
        previous = event["hash"]
        expected_seq = event["seq"] + 1


def audit_verify(*, case_id: int | None = None) -> tuple[int, list[Mismatch]]:
    """Verify stored chains, streaming in (case, seq) order; returns (events checked, problems)."""
    events = CaseEvent.objects.order_by("case_id", "seq")
    if case_id is not None:
        events = events.filter(case_id=case_id)
    fields = ("id", "prev_hash", "hash", *EVENT_HASH_FIELDS)
    checked = 0
    problems: list[Mismatch] = []

    def counted() -> Iterator[dict[str, Any]]:
        nonlocal checked
        for row in events.values(*fields).iterator(chunk_size=2000):
            checked += 1
            yield row

    problems.extend(chain_check(counted()))
    return checked, problems
