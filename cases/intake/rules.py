"""Flag rules over a stored batch: once per rule for the whole batch, never per signal.

A rule looks only at the batch's new signals of its kind (and severity floor or policy); for
those it reads, in one query each, the accounts' open incidents of the rule and, for a count in
a window, their earlier signals that no incident of the rule holds yet.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q

from cases.choices import OPEN_STATES, PRIORITY_RANK, FlagRuleKind, Priority
from cases.models import Case, FlagRule, Incident, IncidentSignal, Signal

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


def _open_incidents(rule: FlagRule, account_ids: list[int], since: datetime) -> dict[int, Incident]:
    """Each account's latest incident of ``rule`` seen since ``since`` and still open: without a
    case yet, or in an open one. On PostgreSQL in SQL of its own (one array parameter, no ORM
    compilation per batch); the ORM query elsewhere."""
    incidents: Any
    if connection.vendor == "postgresql":
        incidents = Incident.objects.raw(
            f"""
            SELECT i.* FROM {Incident._meta.db_table} AS i
            LEFT JOIN {Case._meta.db_table} AS c ON c.id = i.case_id
            WHERE i.rule_id = %s AND i.account_id = ANY(%s) AND i.last_seen >= %s
              AND (i.case_id IS NULL OR c.state = ANY(%s))
            ORDER BY i.account_id, i.last_seen DESC
            """,  # noqa: S608 -- table names from the models, values are parameters
            [rule.pk, account_ids, since, [str(state) for state in OPEN_STATES]],
        )
    else:
        incidents = (
            Incident.objects.filter(account_id__in=account_ids, rule=rule, last_seen__gte=since)
            .filter(Q(case__isnull=True) | Q(case__state__in=OPEN_STATES))
            .order_by("account_id", "-last_seen")
        )
    found: dict[int, Incident] = {}
    for incident in incidents:
        found.setdefault(incident.account_id, incident)
    return found


def _ungrouped_signals(
    rule: FlagRule, account_ids: list[int], since: datetime, until: datetime, new_ids: list[int]
) -> list[tuple[int, datetime, int, str, str, int | None]]:
    """``(account_id, occurred_at, id, severity, kind, policy_id)`` of the accounts' signals of
    the rule's kind between ``since`` and ``until`` that no incident of ``rule`` holds, except
    ``new_ids`` (this batch's). On PostgreSQL in SQL of its own, as ``_open_incidents``."""
    if connection.vendor == "postgresql":
        kind = "AND s.kind = %s" if rule.signal_kind else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT s.account_id, s.occurred_at, s.id, s.severity, s.kind, s.policy_id
                FROM {Signal._meta.db_table} AS s
                WHERE s.account_id = ANY(%s) AND s.occurred_at >= %s AND s.occurred_at <= %s
                  {kind} AND NOT (s.id = ANY(%s))
                  AND NOT EXISTS (
                      SELECT 1 FROM {IncidentSignal._meta.db_table} AS l
                      JOIN {Incident._meta.db_table} AS i ON i.id = l.incident_id
                      WHERE l.signal_id = s.id AND i.rule_id = %s
                  )
                """,  # noqa: S608 -- table names from the models, values are parameters
                [
                    account_ids,
                    since,
                    until,
                    *([rule.signal_kind] if rule.signal_kind else []),
                    new_ids,
                    rule.pk,
                ],
            )
            return list(cursor.fetchall())
    return list(
        Signal.objects.filter(
            account_id__in=account_ids,
            occurred_at__gte=since,
            occurred_at__lte=until,
            **({"kind": rule.signal_kind} if rule.signal_kind else {}),
        )
        .exclude(id__in=new_ids)
        .exclude(incidents__rule=rule)
        .order_by()
        .values_list("account_id", "occurred_at", "id", "severity", "kind", "policy_id")
    )


def rules_evaluate(
    items: list[Item], account_names: dict[int, str]
) -> tuple[list[Incident], list[IncidentSignal]]:
    """Apply every active rule to the stored signals.

    Returns the incidents to route and the links this batch made between incidents and signals
    (new signals, and earlier ones that a count-in-window incident takes in).
    """
    stored = [i for i in items if i.stored]
    if not stored:
        return [], []
    to_route: dict[int, Incident] = {}
    links: list[IncidentSignal] = []
    for rule in FlagRule.objects.filter(active=True).select_related("policy"):
        by_account: dict[int, list[Item]] = defaultdict(list)
        for item in _matching(rule, stored):
            by_account[item.account_id].append(item)
        if not by_account:
            continue
        window = rule.window
        earliest = min(i.occurred_at for group in by_account.values() for i in group)
        open_incidents = _open_incidents(rule, list(by_account), earliest - window)
        points: dict[int, list[_Point]] = {
            account_id: [
                _Point(i.occurred_at, i.signal_id or 0, i.severity, i.kind, i.policy_id, True)
                for i in group
            ]
            for account_id, group in by_account.items()
        }
        if rule.threshold > 1 and rule.kind == FlagRuleKind.COUNT_IN_WINDOW:
            # Earlier signals of the kind, not yet grouped by this rule, count towards the window.
            new_ids = [i.signal_id or 0 for group in by_account.values() for i in group]
            latest = max(i.occurred_at for group in by_account.values() for i in group)
            for account_id, at, pk, severity, kind, policy_id in _ungrouped_signals(
                rule, list(by_account), earliest - window, latest, new_ids
            ):
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
    return sorted(to_route.values(), key=lambda i: (i.account_id, RANK[i.severity])), links
