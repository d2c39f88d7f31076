"""Checking a batch of signals: all of it, before anything is stored.

A valid item takes the fast path (``_valid_item``), which builds nothing for errors; the first
item it cannot vouch for sends the whole batch through ``_checked_item``, which names every bad
item and field in order. Evidence is encoded once per batch: an array that is small enough and
free of NUL vouches for each of its items at once.

An account is named by an external id that follows the rule of ``accounts.external_ids``;
``occurred_at`` carries a time zone and lies in the range of ``config.limits``; evidence nests
at most ``MAX_EVIDENCE_DEPTH`` objects and lists and holds finite numbers only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from accounts.external_ids import RULE as EXTERNAL_ID_RULE
from accounts.external_ids import is_external_id
from cases.choices import Severity
from cases.errors import CaseError
from cases.models import PolicyClause
from config.limits import (
    EARLIEST_TIME,
    LATEST_TIME,
    MAX_EVIDENCE_DEPTH,
    json_depth_exceeds,
    time_problem,
)

MAX_BATCH = 1000
LIMITS = {"account": 128, "kind": 64, "source": 100, "dedupe_key": 200, "policy": 64}
MAX_SUMMARY = 20_000
MAX_EVIDENCE_BYTES = 64 * 1024
REQUIRED = ("account", "kind", "severity", "occurred_at", "source", "dedupe_key")
OPTIONAL = ("policy", "summary", "evidence")
KNOWN = frozenset(REQUIRED + OPTIONAL)
SEVERITIES = frozenset(str(v) for v in Severity.values)
# Built once: ``json.dumps`` with options builds a new encoder on every call. A number that is
# not finite cannot be stored in a JSON column: encoding it raises ``ValueError``.
EVIDENCE_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class SignalBatchInvalid(CaseError):
    """The batch is rejected; ``fields["errors"]`` names each bad item and field."""

    code = "invalid_signals"
    status = 422
    title = "Invalid signals"


@dataclass(slots=True)
class Item:
    """One valid signal of a batch, then what storing it found out."""

    index: int
    account: str
    kind: str
    severity: str
    occurred_at: datetime
    source: str
    dedupe_key: str
    policy: str | None
    summary: str
    evidence: dict[str, Any]
    evidence_json: str | None = None  # set when the item was checked on its own
    signal_id: int | None = None
    stored: bool = False
    account_id: int = 0
    policy_id: int | None = None
    # A duplicate's incidents before this batch, with their cases: ``[(incident, case), ...]``.
    prior: Sequence[tuple[int, int | None]] = ()


@dataclass
class ValidBatch:
    items: list[Item]
    evidence_json: str  # the items' evidence as one JSON array, in their order


def _error(index: int | None, name: str, detail: str, code: str = "invalid") -> dict[str, Any]:
    if index is None:
        return {"pointer": f"/{name}", "field": name, "detail": detail, "code": code}
    return {
        "pointer": f"/signals/{index}/{name}",
        "field": name,
        "index": index,
        "detail": detail,
        "code": code,
    }


def _text(item: dict[str, Any], name: str, index: int, errors: list[dict[str, Any]]) -> str:
    value = item.get(name)
    if value is None:
        errors.append(_error(index, name, "This field is required.", "required"))
        return ""
    if not isinstance(value, str):
        errors.append(_error(index, name, "Must be a string."))
        return ""
    value = value.strip()
    if not value:
        errors.append(_error(index, name, "May not be blank.", "blank"))
    elif len(value) > LIMITS[name]:
        errors.append(_error(index, name, f"At most {LIMITS[name]} characters.", "max_length"))
    elif "\x00" in value:
        errors.append(_error(index, name, "May not contain NUL characters.", "null_characters"))
    return value


def _parsed_time(value: Any) -> datetime | None:
    """``value`` read as an ISO 8601 time (aware or naive), or ``None`` if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        try:
            return parse_datetime(value)
        except ValueError:
            return None


def _occurred_at(value: Any) -> datetime | None:
    """An aware time in UTC within the API's range (``config.limits``), or ``None`` for anything
    else (naive, malformed, out of range)."""
    parsed = _parsed_time(value)
    if parsed is None or parsed.utcoffset() is None:
        return None
    try:  # PostgreSQL refuses offsets beyond 15:59 that Python accepts
        utc = parsed.astimezone(UTC)
    except OverflowError:
        return None
    return utc if EARLIEST_TIME <= utc < LATEST_TIME else None


def _occurred_at_error(value: Any) -> tuple[str, str]:
    """Why ``occurred_at`` was refused: ``(detail, code)``."""
    parsed = _parsed_time(value)
    if parsed is not None and parsed.utcoffset() is not None:
        problem = time_problem(parsed)
        if problem is not None:
            return problem, "datetime_range"
    return "Must be an ISO 8601 time with a time zone.", "datetime"


def plain_text(value: Any, limit: int) -> str | None:
    """``value`` stripped when it is text validation accepts (1 to ``limit`` characters, no
    NUL), else ``None``."""
    if value.__class__ is str:
        value = value.strip()
        if value and len(value) <= limit and "\x00" not in value:
            return value
    return None


def _valid_item(raw: Any, index: int) -> Item | None:
    """The item when every field is plainly valid, else ``None``. Evidence is only checked to be
    an object here; its size and content are checked for the whole batch at once."""
    if raw.__class__ is not dict:
        return None
    severity = raw.get("severity")
    if not raw.keys() <= KNOWN or severity.__class__ is not str or severity not in SEVERITIES:
        return None
    account = plain_text(raw.get("account"), LIMITS["account"])
    if account is not None and not is_external_id(account):
        return None
    kind = plain_text(raw.get("kind"), LIMITS["kind"])
    source = plain_text(raw.get("source"), LIMITS["source"])
    dedupe_key = plain_text(raw.get("dedupe_key"), LIMITS["dedupe_key"])
    occurred = _occurred_at(raw.get("occurred_at"))
    if not (account and kind and source and dedupe_key and occurred):
        return None
    policy = raw.get("policy")
    if policy is not None and (policy := plain_text(policy, LIMITS["policy"])) is None:
        return None
    summary = raw.get("summary")
    if summary is None:
        summary = ""
    elif summary.__class__ is not str or len(summary) > MAX_SUMMARY or "\x00" in summary:
        return None
    evidence = raw.get("evidence")
    if evidence is None:
        evidence = {}
    elif evidence.__class__ is not dict:
        return None
    return Item(
        index,
        account,
        kind,
        severity,
        occurred,
        source,
        dedupe_key,
        policy,
        summary.strip(),
        evidence,
    )


def _checked_item(raw: Any, index: int, errors: list[dict[str, Any]]) -> Item | None:
    """The item, or ``None`` with each of its errors added to ``errors``."""
    if not isinstance(raw, dict):
        errors.append(_error(index, "", "Each signal must be an object.", "not_an_object"))
        return None
    before = len(errors)
    if not raw.keys() <= KNOWN:
        for name in sorted(set(raw) - KNOWN):
            errors.append(_error(index, str(name), "Unknown field.", "unknown_field"))
    account = _text(raw, "account", index, errors)
    if account and len(errors) == before and not is_external_id(account):
        errors.append(_error(index, "account", EXTERNAL_ID_RULE, "external_id"))
    kind = _text(raw, "kind", index, errors)
    source = _text(raw, "source", index, errors)
    dedupe_key = _text(raw, "dedupe_key", index, errors)
    severity = raw.get("severity")
    if not isinstance(severity, str) or severity not in SEVERITIES:
        errors.append(
            _error(index, "severity", f"Must be one of {', '.join(Severity.values)}.", "choice")
        )
    occurred = _occurred_at(raw.get("occurred_at"))
    if occurred is None:
        errors.append(_error(index, "occurred_at", *_occurred_at_error(raw.get("occurred_at"))))
    policy = raw.get("policy")
    if policy is not None:
        policy = _text(raw, "policy", index, errors) or None
    summary = raw.get("summary", "")
    if summary is None:
        summary = ""
    if not isinstance(summary, str) or len(summary) > MAX_SUMMARY or "\x00" in summary:
        errors.append(
            _error(index, "summary", f"Must be text of at most {MAX_SUMMARY} characters.")
        )
    evidence = raw.get("evidence", {})
    if evidence is None:
        evidence = {}
    evidence_json = "{}"
    if not isinstance(evidence, dict):
        errors.append(_error(index, "evidence", "Must be an object."))
    elif json_depth_exceeds(evidence, MAX_EVIDENCE_DEPTH):
        errors.append(
            _error(index, "evidence", f"May nest at most {MAX_EVIDENCE_DEPTH} objects and lists.")
        )
    elif evidence:
        try:
            evidence_json = EVIDENCE_JSON.encode(evidence)
        except ValueError:
            evidence_json = ""
            errors.append(_error(index, "evidence", "Numbers must be finite.", "not_finite"))
        if len(evidence_json) > MAX_EVIDENCE_BYTES:
            errors.append(_error(index, "evidence", f"At most {MAX_EVIDENCE_BYTES} bytes."))
        elif "\\u0000" in evidence_json:
            errors.append(_error(index, "evidence", "May not contain NUL characters."))
    if len(errors) > before or occurred is None:
        return None
    return Item(
        index=index,
        account=account,
        kind=kind,
        severity=str(severity),
        occurred_at=occurred,
        source=source,
        dedupe_key=dedupe_key,
        policy=policy,
        summary=summary.strip() if isinstance(summary, str) else "",
        evidence=evidence,
        evidence_json=evidence_json,
    )


def _plain_items(batch: list[Any]) -> ValidBatch | None:
    """The batch when every item takes the fast path and their evidence, encoded as one array,
    is within the limit of a single item and holds no NUL; else ``None``."""
    items = []
    for index, raw in enumerate(batch):
        item = _valid_item(raw, index)
        if item is None:
            return None
        items.append(item)
    evidence = [item.evidence for item in items]
    try:
        evidence_json = EVIDENCE_JSON.encode(evidence)
    except ValueError:  # a number that is not finite
        return None
    if len(evidence_json) > MAX_EVIDENCE_BYTES or "\\u0000" in evidence_json:
        return None
    if json_depth_exceeds(evidence, MAX_EVIDENCE_DEPTH + 1):  # + 1: the list of them
        return None
    return ValidBatch(items, evidence_json)


def signal_batch(body: Any) -> Any:
    """The ``signals`` of a request body, which is an object with that one field."""
    if not isinstance(body, dict):
        detail = 'The body must be an object: {"signals": [...]}.'
        raise SignalBatchInvalid(detail=detail, errors=[_error(None, "", detail, "not_an_object")])
    unknown = sorted(str(name) for name in body if name != "signals")
    if unknown:
        raise SignalBatchInvalid(
            detail=f"Unknown field(s): {', '.join(unknown)}.",
            errors=[_error(None, name, "Unknown field.", "unknown_field") for name in unknown],
        )
    if "signals" not in body:
        detail = "This field is required."
        raise SignalBatchInvalid(
            detail=f"signals: {detail}", errors=[_error(None, "signals", detail, "required")]
        )
    return body["signals"]


def batch_validate(batch: Any) -> ValidBatch:
    """Every item of the batch, checked; raises ``SignalBatchInvalid`` naming each bad one."""
    if not isinstance(batch, list):
        raise SignalBatchInvalid(
            detail="'signals' must be a list.", errors=[_error(None, "signals", "Must be a list.")]
        )
    if not batch or len(batch) > MAX_BATCH:
        detail = f"A batch holds 1 to {MAX_BATCH} signals; this one has {len(batch)}."
        raise SignalBatchInvalid(
            detail=detail, errors=[_error(None, "signals", detail, "batch_size")]
        )
    errors: list[dict[str, Any]] = []
    valid = _plain_items(batch)
    if valid is None:
        checked = [_checked_item(raw, i, errors) for i, raw in enumerate(batch)]
        items = [item for item in checked if item is not None]
        evidence = ",".join(item.evidence_json or "{}" for item in items)
        valid = ValidBatch(items, f"[{evidence}]")
    codes = {item.policy for item in valid.items if item.policy}
    if codes:
        policies = dict(PolicyClause.objects.filter(code__in=codes).values_list("code", "id"))
        for item in valid.items:
            if not item.policy:
                continue
            if item.policy in policies:
                item.policy_id = policies[item.policy]
            else:
                errors.append(
                    _error(item.index, "policy", f"Unknown policy '{item.policy}'.", "unknown")
                )
    if errors:
        bad = sorted({e["index"] for e in errors if "index" in e})
        raise SignalBatchInvalid(
            detail=f"{len(bad)} of {len(batch)} signals are invalid; nothing was stored.",
            errors=errors,
        )
    return valid


def signals_validate(batch: Any) -> list[Item]:
    """Every item of the batch, checked; raises ``SignalBatchInvalid`` naming each bad one."""
    return batch_validate(batch).items
