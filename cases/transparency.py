"""Statements of reasons in the EU DSA Transparency Database's API schema (docs/transparency.md).

Each restrictive decision stores its statement with a ``dsa`` part under the database's field
names and values (``cases.statements``); this module reads those for a period, fits them to the
API's limits (lengths, no null fields) and talks to the API: ``POST`` of up to 100 statements
to its multiple-statements endpoint with a bearer token. What was accepted is recorded by
``cases.services.statement_submissions``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from .models import Decision

# The API takes at most this many statements in one call.
BATCH_MAX = 100
# Lengths the API accepts.
LIMITS = {
    "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000,
    "decision_facts": 5000,
    "content_type_other": 500,
    "puid": 500,
}
TIMEOUT_SECONDS = 30.0
# A 5xx, 429 or network failure is tried this many times in all, with a growing pause.
ATTEMPTS = 3


@dataclass(frozen=True)
class ExportedStatement:
    decision_id: int
    payload: dict[str, Any]

    @property
    def puid(self) -> str:
        return str(self.payload["puid"])


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tdb_payload(dsa: dict[str, Any]) -> dict[str, Any]:
    """A statement's ``dsa`` part as the API takes it: no null field, every text in its limit."""
    payload = {key: value for key, value in dsa.items() if value is not None}
    for key, limit in LIMITS.items():
        if isinstance(payload.get(key), str):
            payload[key] = _clip(payload[key], limit)
    return payload


def statements_export(*, since: datetime, until: datetime) -> Iterator[ExportedStatement]:
    """The statements of the decisions taken in ``[since, until)`` that restricted the account
    (those that only lift or warn have no ``dsa`` part: the database holds restrictions), in
    the order they were taken."""
    decisions = (
        Decision.objects.filter(decided_at__gte=since, decided_at__lt=until)
        .order_by("decided_at", "pk")
        .only("pk", "statement")
    )
    for decision in decisions.iterator(chunk_size=500):
        dsa = (decision.statement or {}).get("dsa")
        if dsa:
            yield ExportedStatement(decision_id=decision.pk, payload=tdb_payload(dsa))


class SubmissionFailed(Exception):
    """The API refused a batch for another reason than an existing puid, or stayed down."""


@dataclass(frozen=True)
class BatchAnswer:
    """``accepted``: the batch is stored; else ``existing``: the puids the API says it holds
    already (empty when its refusal named none)."""

    accepted: bool
    existing: frozenset[str] = frozenset()


def _puid_refusal(body: Any) -> frozenset[str] | None:
    """The existing puids of a 422 that refuses for an existing puid (``errors.puid``), else
    ``None``."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict) or "puid" not in errors:
        return None
    existing = errors.get("existing_puids") or []
    return frozenset(str(p) for p in existing) if isinstance(existing, list) else frozenset()


class TransparencyClient:
    """The Transparency Database's API at ``url`` (its multiple-statements endpoint)."""

    def __init__(self, url: str, token: str, *, transport: httpx.BaseTransport | None = None):
        self.url = url
        self._http = httpx.Client(
            timeout=TIMEOUT_SECONDS,
            transport=transport,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )

    def close(self) -> None:
        self._http.close()

    def send(self, statements: Sequence[ExportedStatement]) -> BatchAnswer:
        body = orjson.dumps({"statements": [s.payload for s in statements]})
        failure = ""
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > 1:
                time.sleep(0.5 * (attempt - 1))
            try:
                response = self._http.post(self.url, content=body)
            except httpx.HTTPError as exc:
                failure = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in (200, 201):
                return BatchAnswer(accepted=True)
            if response.status_code == 422:
                try:
                    parsed = response.json()
                except ValueError:
                    parsed = None
                existing = _puid_refusal(parsed)
                if existing is not None:
                    return BatchAnswer(accepted=False, existing=existing)
            failure = f"HTTP {response.status_code}: {response.text[:500]}"
            if response.status_code < 500 and response.status_code != 429:
                break
        raise SubmissionFailed(failure)
