"""Signal intake: a batch of up to 1,000 signals, validated as a whole, stored set-based.

``signals_ingest`` is all or nothing: every item is checked first (``validation``) and any error
rejects the batch with one error per bad item (its index and field), storing nothing. A valid
batch is stored in a fixed number of statements whatever its size (``storage``): its accounts
are read while it is validated, unknown ones created in one statement, the signals inserted
with ``ON CONFLICT DO NOTHING`` so that a signal the same API client posted before (same
``source`` and ``dedupe_key``) is reported ``duplicate`` with the incidents and case it joined;
another client's signals are never seen (``storage.Scope``). The flag rules are then evaluated
once per rule over the batch, not per signal (``rules``); the incidents they produce or extend
are routed to cases by ``cases.services.incident_route``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import connection, transaction

from accounts.services import accounts_ensure
from cases.models import IncidentSignal
from cases.services import incident_route
from core.actors import Actor

from .rules import rules_evaluate
from .storage import BATCH_TABLE, batch_store, batch_validate_reading_ahead
from .validation import MAX_BATCH, Item, SignalBatchInvalid, signal_batch, signals_validate

__all__ = [
    "BATCH_TABLE",
    "MAX_BATCH",
    "SignalBatchInvalid",
    "signal_batch",
    "signals_ingest",
    "signals_validate",
]


def _results(
    items: list[Item], links: list[IncidentSignal], routed: dict[int, int]
) -> list[dict[str, Any]]:
    """One result per item: the incidents its signal is in after this batch and their case.

    A signal's incidents are those it joined before (``Item.prior``) and those this batch linked
    it to; an incident's case is the one routing gave it, else the one it had. When a signal is
    in several incidents, the case of the latest one that has a case is reported.
    """
    joined: dict[int, set[int]] = defaultdict(set)
    case_of: dict[int, int | None] = {}
    for item in items:
        for incident_id, case_id in item.prior:
            joined[item.signal_id or 0].add(incident_id)
            case_of[incident_id] = case_id
    for link in links:
        joined[link.signal_id].add(link.incident_id)
        case_of.setdefault(link.incident_id, link.incident.case_id)
    case_of.update(routed)
    results = []
    for item in items:
        incident_ids: list[int] = []
        case = None
        if item.signal_id in joined:
            incident_ids = sorted(joined[item.signal_id])
            for incident_id in reversed(incident_ids):
                if (case := case_of.get(incident_id)) is not None:
                    break
        results.append(
            {
                "index": item.index,
                "status": "stored" if item.stored else "duplicate",
                "signal": item.signal_id,
                "incidents": incident_ids,
                "case": case,
            }
        )
    return results


def signals_ingest(*, batch: Any, actor: Actor) -> list[dict[str, Any]]:
    """Store a batch of signals and route what the flag rules make of them.

    Returns one result per signal, in order: ``{"index", "status": "stored"|"duplicate",
    "signal", "incidents", "case"}``. Raises ``SignalBatchInvalid`` and stores nothing if any
    signal is invalid.

    Queries: a fixed number per batch, whatever its size, unless the rules produce incidents
    (each one routed to a case is a few more) or a concurrent batch stores the same keys.
    """
    valid, ahead = batch_validate_reading_ahead(batch)
    items = valid.items
    routed: dict[int, int] = {}
    nested = connection.in_atomic_block
    with transaction.atomic():
        account_ids = accounts_ensure(
            external_ids=[i.account for i in items], looked_up=ahead.accounts if ahead else None
        )
        for item in items:
            item.account_id = account_ids[item.account]
        client_id = actor.client.pk if actor.client is not None else None
        batch_store(valid, automated=not actor.is_person, client_id=client_id, nested=nested)
        names = {pk: external_id for external_id, pk in account_ids.items()}
        incidents, links = rules_evaluate(items, names, rules=ahead.rules if ahead else None)
        for incident in incidents:
            routed[incident.pk] = incident_route(incident=incident).pk
    return _results(items, links, routed)
