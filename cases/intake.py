"""Signal intake: a batch of up to 1,000 signals, validated as a whole, stored set-based.

``signals_ingest`` is all or nothing: every item is checked first and any error rejects the
batch with one error per bad item (its index and field), storing nothing. A valid batch is
stored with one ``INSERT ... ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING`` (PostgreSQL
reads the rows from arrays with ``unnest``), so a signal seen before is reported ``duplicate``
without a query per signal. Unknown accounts are created in one statement. The flag rules are
then evaluated once per rule over the batch (not per signal); the incidents they produce or
extend are routed to cases by ``cases.services.incident_route``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.services import accounts_ensure

from .actors import Actor
from .choices import OPEN_STATES, PRIORITY_RANK, ActorKind, FlagRuleKind, Priority, Severity
from .errors import CaseError
from .models import FlagRule, Incident, IncidentSignal, PolicyClause, Signal
from .services import incident_route

MAX_BATCH = 1000
SQLITE_CHUNK = 500
LIMITS = {"account": 128, "kind": 64, "source": 100, "dedupe_key": 200, "policy": 64}
MAX_SUMMARY = 20_000
MAX_EVIDENCE_BYTES = 64 * 1024
REQUIRED = ("account", "kind", "severity", "occurred_at", "source", "dedupe_key")
OPTIONAL = ("policy", "summary", "evidence")
KNOWN = frozenset(REQUIRED + OPTIONAL)
SEVERITIES = frozenset(str(v) for v in Severity.values)
# Lower is more urgent; keyed by plain strings so the per-signal checks avoid enum lookups.
RANK = {str(p): rank for p, rank in PRIORITY_RANK.items()}


class SignalBatchInvalid(CaseError):
    """The batch is rejected; ``fields["errors"]`` names each bad item and field."""

    code = "invalid_signals"
    status = 422
    title = "Invalid signals"


@dataclass
class _Item:
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
    evidence_json: str
    signal_id: int | None = None
    stored: bool = False
    account_id: int = 0
    policy_id: int | None = None


@dataclass
class _Point:
    at: datetime
    signal_id: int
    severity: str
    kind: str
    policy_id: int | None
    new: bool


@dataclass
class _Episode:
    points: list[_Point] = field(default_factory=list)
    incident: Incident | None = None
    last: datetime | None = None


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


def _validate_item(raw: Any, index: int, errors: list[dict[str, Any]]) -> _Item | None:
    if not isinstance(raw, dict):
        errors.append(_error(index, "", "Each signal must be an object.", "not_an_object"))
        return None
    before = len(errors)
    for name in sorted(set(raw) - KNOWN):
        errors.append(_error(index, str(name), "Unknown field.", "unknown_field"))
    account = _text(raw, "account", index, errors)
    kind = _text(raw, "kind", index, errors)
    source = _text(raw, "source", index, errors)
    dedupe_key = _text(raw, "dedupe_key", index, errors)
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        errors.append(
            _error(index, "severity", f"Must be one of {', '.join(Severity.values)}.", "choice")
        )
    occurred_raw = raw.get("occurred_at")
    occurred: datetime | None = None
    if isinstance(occurred_raw, str):
        try:
            occurred = parse_datetime(occurred_raw)
        except ValueError:
            occurred = None
    if occurred is not None and timezone.is_aware(occurred):
        try:  # PostgreSQL refuses offsets beyond 15:59 that Python accepts
            occurred = occurred.astimezone(UTC)
        except OverflowError:
            occurred = None
    if occurred is None or timezone.is_naive(occurred):
        errors.append(
            _error(index, "occurred_at", "Must be an ISO 8601 time with a time zone.", "datetime")
        )
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
    else:
        evidence_json = json.dumps(evidence, separators=(",", ":"))
        if len(evidence_json) > MAX_EVIDENCE_BYTES:
            errors.append(_error(index, "evidence", f"At most {MAX_EVIDENCE_BYTES} bytes."))
        elif "\\u0000" in evidence_json:
            errors.append(_error(index, "evidence", "May not contain NUL characters."))
    if len(errors) > before or occurred is None:
        return None
    return _Item(
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


def signals_validate(batch: Any) -> list[_Item]:
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
    items = [_validate_item(raw, i, errors) for i, raw in enumerate(batch)]
    codes = {item.policy for item in items if item is not None and item.policy}
    policies = dict(PolicyClause.objects.filter(code__in=codes).values_list("code", "id"))
    for item in items:
        if item is not None and item.policy:
            if item.policy not in policies:
                errors.append(
                    _error(item.index, "policy", f"Unknown policy '{item.policy}'.", "unknown")
                )
            else:
                item.policy_id = policies[item.policy]
    if errors:
        bad = sorted({e["index"] for e in errors if "index" in e})
        raise SignalBatchInvalid(
            detail=f"{len(bad)} of {len(batch)} signals are invalid; nothing was stored.",
            errors=errors,
        )
    return [item for item in items if item is not None]


# --- storing ------------------------------------------------------------------------------------


def _insert_postgres(items: Sequence[_Item], received: datetime, automated: bool) -> list[Any]:
    table = Signal._meta.db_table
    sql = f"""
        INSERT INTO {table}
            (account_id, kind, severity, occurred_at, received_at, source, dedupe_key,
             automated, policy_id, summary, evidence)
        SELECT a, k, sv, o, %s, s, d, %s, p, sm, e::jsonb
        FROM unnest(%s::bigint[], %s::varchar[], %s::varchar[], %s::timestamptz[],
                    %s::varchar[], %s::varchar[], %s::bigint[], %s::text[], %s::text[])
             AS t(a, k, sv, o, s, d, p, sm, e)
        ON CONFLICT (source, dedupe_key) DO NOTHING
        RETURNING id, source, dedupe_key
    """  # noqa: S608 -- the table name comes from the model, every value is a parameter
    params: list[Any] = [
        received,
        automated,
        [i.account_id for i in items],
        [i.kind for i in items],
        [i.severity for i in items],
        [i.occurred_at for i in items],
        [i.source for i in items],
        [i.dedupe_key for i in items],
        [i.policy_id for i in items],
        [i.summary for i in items],
        [i.evidence_json for i in items],
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _insert_generic(items: Sequence[_Item], received: datetime, automated: bool) -> list[Any]:
    table = Signal._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    rows: list[Any] = []
    for start in range(0, len(items), SQLITE_CHUNK):
        chunk = items[start : start + SQLITE_CHUNK]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
        sql = (
            f"INSERT INTO {table} (account_id, kind, severity, occurred_at, received_at, source, "  # noqa: S608
            f"dedupe_key, automated, policy_id, summary, evidence) VALUES {values} "
            "ON CONFLICT (source, dedupe_key) DO NOTHING RETURNING id, source, dedupe_key"
        )
        params: list[Any] = []
        for i in chunk:
            params += [
                i.account_id,
                i.kind,
                i.severity,
                adapt(i.occurred_at),
                adapt(received),
                i.source,
                i.dedupe_key,
                automated,
                i.policy_id,
                i.summary,
                i.evidence_json,
            ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows.extend(cursor.fetchall())
    return rows


def _store(items: list[_Item], automated: bool) -> None:
    """Insert the batch; mark each item stored (first of its key) or duplicate, with its id."""
    received = timezone.now()
    insert = _insert_postgres if connection.vendor == "postgresql" else _insert_generic
    # One key order for every batch: two batches sharing keys wait on each other, never deadlock.
    ordered = sorted(items, key=lambda i: (i.source, i.dedupe_key))
    inserted = {(source, key): pk for pk, source, key in insert(ordered, received, automated)}
    claimed: set[tuple[str, str]] = set()
    for item in items:
        pair = (item.source, item.dedupe_key)
        if pair in inserted and pair not in claimed:
            claimed.add(pair)
            item.signal_id = inserted[pair]
            item.stored = True
    missing = [i for i in items if i.signal_id is None]
    if missing:
        within = {p: inserted[p] for p in {(i.source, i.dedupe_key) for i in missing} & claimed}
        outside = {(i.source, i.dedupe_key) for i in missing} - set(within)
        if outside:
            existing = Signal.objects.filter(
                source__in={s for s, _ in outside}, dedupe_key__in={d for _, d in outside}
            ).values_list("source", "dedupe_key", "id")
            within.update({(s, d): pk for s, d, pk in existing if (s, d) in outside})
        for item in missing:
            item.signal_id = within.get((item.source, item.dedupe_key))


# --- flag rules ---------------------------------------------------------------------------------


def _matches(rule: FlagRule, item: _Item) -> bool:
    if rule.signal_kind and item.kind != rule.signal_kind:
        return False
    if rule.kind == FlagRuleKind.SEVERITY_AT_LEAST:
        floor = rule.min_severity or Priority.CRITICAL
        return RANK[item.severity] <= RANK[str(floor)]
    if rule.kind == FlagRuleKind.POLICY_CITED:
        return rule.policy_id is not None and item.policy_id == rule.policy_id
    return rule.kind == FlagRuleKind.COUNT_IN_WINDOW


def _episodes(
    points: list[_Point], threshold: int, window: timedelta, existing: Incident | None
) -> list[_Episode]:
    """Split one account's matching signals (sorted by time) into incidents.

    A window of ``window`` holding ``threshold`` signals, one of them new, opens an incident;
    later signals within ``window`` of the incident's last one join it. ``existing`` is the
    account's open incident of this rule, which signals close enough to it join first.
    """
    episodes: list[_Episode] = []
    current: _Episode | None = None
    if existing is not None:
        current = _Episode(incident=existing, last=existing.last_seen)
    start = 0
    for j, point in enumerate(points):
        if current is not None:
            assert current.last is not None  # noqa: S101 -- set whenever current is
            if point.at - current.last <= window:
                current.points.append(point)
                current.last = max(current.last, point.at)
                continue
            episodes.append(current)
            current = None
            start = j
        while point.at - points[start].at > window:
            start += 1
        candidates = points[start : j + 1]
        if len(candidates) >= threshold and any(p.new for p in candidates):
            current = _Episode(points=list(candidates), last=point.at)
    if current is not None:
        episodes.append(current)
    return [e for e in episodes if e.points]


def _worst(severities: list[str]) -> str:
    return min(severities, key=lambda s: RANK[s])


def _evaluate(items: list[_Item], account_names: dict[int, str]) -> list[Incident]:
    """Apply every active rule to the stored signals; returns the incidents to route."""
    stored = [i for i in items if i.stored]
    if not stored:
        return []
    to_route: dict[int, Incident] = {}
    links: list[IncidentSignal] = []
    for rule in FlagRule.objects.filter(active=True).select_related("policy"):
        by_account: dict[int, list[_Item]] = defaultdict(list)
        for item in stored:
            if _matches(rule, item):
                by_account[item.account_id].append(item)
        if not by_account:
            continue
        window = rule.window
        earliest = min(i.occurred_at for group in by_account.values() for i in group)
        open_incidents: dict[int, Incident] = {}
        for incident in (
            Incident.objects.filter(
                rule=rule, account_id__in=list(by_account), last_seen__gte=earliest - window
            )
            .filter(Q(case__isnull=True) | Q(case__state__in=OPEN_STATES))
            .order_by("account_id", "-last_seen")
        ):
            open_incidents.setdefault(incident.account_id, incident)
        points: dict[int, list[_Point]] = {
            account_id: [
                _Point(i.occurred_at, i.signal_id or 0, i.severity, i.kind, i.policy_id, True)
                for i in group
            ]
            for account_id, group in by_account.items()
        }
        if rule.threshold > 1 and rule.kind == FlagRuleKind.COUNT_IN_WINDOW:
            # Earlier signals of the kind, not yet grouped by this rule, count towards the window.
            new_ids = {i.signal_id for group in by_account.values() for i in group}
            latest = max(i.occurred_at for group in by_account.values() for i in group)
            prior = (
                Signal.objects.filter(
                    account_id__in=list(by_account),
                    occurred_at__gte=earliest - window,
                    occurred_at__lte=latest,
                    **({"kind": rule.signal_kind} if rule.signal_kind else {}),
                )
                .exclude(incidents__rule=rule)
                .values_list("account_id", "occurred_at", "id", "severity", "kind", "policy_id")
            )
            for account_id, at, pk, severity, kind, policy_id in prior:
                if pk not in new_ids:
                    points[account_id].append(_Point(at, pk, severity, kind, policy_id, False))
        new_incidents: list[tuple[Incident, list[_Point]]] = []
        joined: list[Incident] = []
        for account_id, account_points in points.items():
            account_points.sort(key=lambda p: (p.at, p.signal_id))
            for episode in _episodes(
                account_points, rule.threshold, window, open_incidents.get(account_id)
            ):
                severities = [p.severity for p in episode.points]
                if episode.incident is not None:
                    incident = episode.incident
                    worse = rule.priority or _worst([incident.severity, *severities])
                    raised = worse != incident.severity
                    incident.last_seen = max(incident.last_seen, *(p.at for p in episode.points))
                    incident.signal_count += len(episode.points)
                    incident.severity = worse
                    joined.append(incident)
                    links += [
                        IncidentSignal(incident=incident, signal_id=p.signal_id)
                        for p in episode.points
                    ]
                    if raised or incident.case_id is None:
                        to_route[incident.pk] = incident
                    continue
                kind = rule.signal_kind or episode.points[0].kind
                policy_id = rule.policy_id or next(
                    (p.policy_id for p in episode.points if p.policy_id), None
                )
                name = account_names.get(account_id, str(account_id))
                incident = Incident(
                    account_id=account_id,
                    rule=rule,
                    kind=kind,
                    policy_id=policy_id,
                    severity=rule.priority or _worst(severities),
                    summary=f"{rule.name}: {len(episode.points)} {kind} signal(s) on {name}",
                    first_seen=min(p.at for p in episode.points),
                    last_seen=max(p.at for p in episode.points),
                    signal_count=len(episode.points),
                )
                new_incidents.append((incident, episode.points))
        if joined:
            Incident.objects.bulk_update(joined, ["last_seen", "signal_count", "severity"])
        if new_incidents:
            Incident.objects.bulk_create([incident for incident, _ in new_incidents])
            for incident, episode_points in new_incidents:
                links += [
                    IncidentSignal(incident=incident, signal_id=p.signal_id) for p in episode_points
                ]
                to_route[incident.pk] = incident
    if links:
        IncidentSignal.objects.bulk_create(links, ignore_conflicts=True)
    # By account (one lock order across concurrent batches), the worst incident first.
    return sorted(to_route.values(), key=lambda i: (i.account_id, RANK[i.severity]))


def signals_ingest(*, batch: Any, actor: Actor) -> list[dict[str, Any]]:
    """Store a batch of signals and route what the flag rules make of them.

    Returns one result per signal, in order: ``{"index", "status": "stored"|"duplicate",
    "signal", "incidents", "case"}``. Raises ``SignalBatchInvalid`` and stores nothing if any
    signal is invalid.
    """
    items = signals_validate(batch)
    with transaction.atomic():
        account_ids = accounts_ensure(external_ids=[i.account for i in items])
        for item in items:
            item.account_id = account_ids[item.account]
        _store(items, automated=actor.kind != ActorKind.STAFF)
        names = {pk: external_id for external_id, pk in account_ids.items()}
        incidents = _evaluate(items, names)
        for incident in incidents:
            incident_route(incident=incident)
    signal_ids = [i.signal_id for i in items if i.signal_id is not None]
    joined: dict[int, list[int]] = defaultdict(list)
    case_of: dict[int, int | None] = {}
    for signal_id, incident_id, case_id in IncidentSignal.objects.filter(
        signal_id__in=signal_ids
    ).values_list("signal_id", "incident_id", "incident__case_id"):
        joined[signal_id].append(incident_id)
        if case_id is not None:
            case_of[signal_id] = case_id
    return [
        {
            "index": item.index,
            "status": "stored" if item.stored else "duplicate",
            "signal": item.signal_id,
            "incidents": sorted(joined.get(item.signal_id or 0, [])),
            "case": case_of.get(item.signal_id or 0),
        }
        for item in items
    ]
