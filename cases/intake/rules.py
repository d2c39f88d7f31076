"""Flag rules over a stored batch: once per rule for the whole batch, never per signal.

A rule looks only at the batch's new signals of its kind (and severity floor or policy); for
those it reads, in one query each, the accounts' open incidents of the rule and, for a count in
a window, their earlier signals that no incident of the rule holds yet.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from django.db import connection
from django.db.models import Q

from cases.choices import OPEN_STATES, PRIORITY_RANK, FlagRuleKind, Priority
from cases.models import Case, FlagRule, Incident, IncidentSignal, Signal

from .storage import log_query
from .validation import Item

# Lower is more urgent; keyed by plain strings so the per-signal checks avoid enum lookups.
RANK = {str(p): rank for p, rank in PRIORITY_RANK.items()}


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


def _matching(rule: FlagRule, items: list[Item]) -> list[Item]:
    """The items ``rule`` applies to: its signal kind, then its severity floor or policy."""
    if rule.signal_kind:
        items = [i for i in items if i.kind == rule.signal_kind]
    if rule.kind == FlagRuleKind.SEVERITY_AT_LEAST:
        floor = RANK[str(rule.min_severity or Priority.CRITICAL)]
        return [i for i in items if RANK[i.severity] <= floor]
    if rule.kind == FlagRuleKind.POLICY_CITED:
        if rule.policy_id is None:
            return []
        return [i for i in items if i.policy_id == rule.policy_id]
    return items if rule.kind == FlagRuleKind.COUNT_IN_WINDOW else []


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


@dataclass
class _Scope:
    """What one rule looks at in this batch: its matching new signals, by account."""

    rule: FlagRule
    by_account: dict[int, list[Item]]
    since: datetime  # the earliest of them, less the rule's window
    until: datetime  # the latest of them

    @property
    def counts_earlier(self) -> bool:
        """Whether earlier signals count towards the rule's window."""
        return self.rule.threshold > 1 and self.rule.kind == FlagRuleKind.COUNT_IN_WINDOW

    @property
    def new_ids(self) -> list[int]:
        return [i.signal_id or 0 for group in self.by_account.values() for i in group]


# What each scope reads: each account's latest open incident of the rule (no case yet, or an open
# case) seen since ``since``, and, for a count in a window, the accounts' signals of the rule's kind
# between ``since`` and ``until`` that no incident of the rule holds, except this batch's.
# (account_id, occurred_at, id, severity, kind, policy_id)
_Earlier = tuple[int, datetime, int, str, str, int | None]
_INCIDENT_FIELDS = [f.attname for f in Incident._meta.concrete_fields]


def _read_postgres(scopes: list[_Scope]) -> list[tuple[dict[int, Incident], list[_Earlier]]]:
    """Both queries of every scope sent at once (pipeline mode), each with its accounts and ids
    as binary arrays."""
    columns = ", ".join(
        f"i.{connection.ops.quote_name(f.column)}" for f in Incident._meta.concrete_fields
    )
    incidents_sql = f"""
        SELECT {columns} FROM {Incident._meta.db_table} AS i
        LEFT JOIN {Case._meta.db_table} AS c ON c.id = i.case_id
        WHERE i.rule_id = %b AND i.account_id = ANY(%b::bigint[]) AND i.last_seen >= %b
          AND (i.case_id IS NULL OR c.state = ANY(%b))
        ORDER BY i.account_id, i.last_seen DESC
    """  # noqa: S608 -- table and column names from the models, values are parameters
    earlier_sql = f"""
        SELECT s.account_id, s.occurred_at, s.id, s.severity, s.kind, s.policy_id
        FROM {Signal._meta.db_table} AS s
        WHERE s.account_id = ANY(%b::bigint[]) AND s.occurred_at >= %b AND s.occurred_at <= %b
          AND (%b = '' OR s.kind = %b) AND NOT (s.id = ANY(%b::bigint[]))
          AND NOT EXISTS (
              SELECT 1 FROM {IncidentSignal._meta.db_table} AS l
              JOIN {Incident._meta.db_table} AS i ON i.id = l.incident_id
              WHERE l.signal_id = s.id AND i.rule_id = %b
          )
    """  # noqa: S608 -- table names from the models, values are parameters
    open_states = [str(state) for state in OPEN_STATES]
    with connection.cursor() as cursor, connection.wrap_database_errors, ExitStack() as opened:
        pg = cursor.cursor.connection
        started = time.monotonic()
        with pg.pipeline():
            sent = []
            for scope in scopes:
                rule, accounts = scope.rule, list(scope.by_account)
                incidents = opened.enter_context(psycopg.Cursor(pg))
                incidents.execute(
                    incidents_sql, [rule.pk, accounts, scope.since, open_states], prepare=False
                )
                earlier = None
                if scope.counts_earlier:
                    earlier = opened.enter_context(psycopg.Cursor(pg))
                    kind = rule.signal_kind
                    params = [accounts, scope.since, scope.until, kind, kind, scope.new_ids]
                    earlier.execute(earlier_sql, [*params, rule.pk], prepare=False)
                sent.append((incidents, earlier))
            fetched = [
                (incidents.fetchall(), earlier.fetchall() if earlier else [])
                for incidents, earlier in sent
            ]
        for _, earlier in sent:
            log_query(incidents_sql, started)
            if earlier is not None:
                log_query(earlier_sql, started)
    read = []
    for incident_rows, earlier_rows in fetched:
        latest: dict[int, Incident] = {}
        for row in incident_rows:
            incident = Incident.from_db(connection.alias, _INCIDENT_FIELDS, row)
            latest.setdefault(incident.account_id, incident)
        read.append((latest, earlier_rows))
    return read


def _read_generic(scope: _Scope) -> tuple[dict[int, Incident], list[_Earlier]]:
    rule, accounts = scope.rule, list(scope.by_account)
    latest: dict[int, Incident] = {}
    for incident in (
        Incident.objects.filter(account_id__in=accounts, rule=rule, last_seen__gte=scope.since)
        .filter(Q(case__isnull=True) | Q(case__state__in=OPEN_STATES))
        .order_by("account_id", "-last_seen")
    ):
        latest.setdefault(incident.account_id, incident)
    if not scope.counts_earlier:
        return latest, []
    earlier = (
        Signal.objects.filter(
            account_id__in=accounts,
            occurred_at__gte=scope.since,
            occurred_at__lte=scope.until,
            **({"kind": rule.signal_kind} if rule.signal_kind else {}),
        )
        .exclude(id__in=scope.new_ids)
        .exclude(incidents__rule=rule)
        .order_by()
        .values_list("account_id", "occurred_at", "id", "severity", "kind", "policy_id")
    )
    return latest, list(earlier)


def _read(scopes: list[_Scope]) -> list[tuple[dict[int, Incident], list[_Earlier]]]:
    """Per scope: the accounts' open incidents of the rule and their earlier signals."""
    if not scopes:
        return []
    if connection.vendor == "postgresql":
        return _read_postgres(scopes)
    return [_read_generic(scope) for scope in scopes]


def rules_evaluate(
    items: list[Item], account_names: dict[int, str], *, rules: list[FlagRule] | None = None
) -> tuple[list[Incident], list[IncidentSignal]]:
    """Apply every active rule (``rules``, read here when not given) to the stored signals.

    Returns the incidents to route and the links this batch made between incidents and signals
    (new signals, and earlier ones that a count-in-window incident takes in).
    """
    stored = [i for i in items if i.stored]
    if not stored:
        return [], []
    to_route: dict[int, Incident] = {}
    links: list[IncidentSignal] = []
    scopes = []
    for rule in FlagRule.objects.filter(active=True) if rules is None else rules:
        by_account: dict[int, list[Item]] = defaultdict(list)
        for item in _matching(rule, stored):
            by_account[item.account_id].append(item)
        if by_account:
            times = [i.occurred_at for group in by_account.values() for i in group]
            scopes.append(_Scope(rule, by_account, min(times) - rule.window, max(times)))
    for scope, (open_incidents, earlier) in zip(scopes, _read(scopes), strict=True):
        rule, window = scope.rule, scope.rule.window
        points: dict[int, list[_Point]] = {
            account_id: [
                _Point(i.occurred_at, i.signal_id or 0, i.severity, i.kind, i.policy_id, True)
                for i in group
            ]
            for account_id, group in scope.by_account.items()
        }
        # Earlier signals of the kind, not yet grouped by this rule, count towards the window.
        for account_id, at, pk, severity, kind, policy_id in earlier:
            points[account_id].append(_Point(at, pk, severity, kind, policy_id, False))
        new_incidents: list[tuple[Incident, list[_Point]]] = []
        joined: list[Incident] = []
        for account_id, account_points in points.items():
            existing = open_incidents.get(account_id)
            if existing is None and len(account_points) < rule.threshold:
                continue  # too few signals to open an incident, and none open to join
            account_points.sort(key=lambda p: (p.at, p.signal_id))
            for episode in _episodes(account_points, rule.threshold, window, existing):
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
    return sorted(to_route.values(), key=lambda i: (i.account_id, RANK[i.severity])), links
