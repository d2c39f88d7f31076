"""The transparency report's figures for a period (docs/transparency.md, "Transparency report").

The rows of the quantitative template of Implementing Regulation (EU) 2024/2835 that apply to an
API provider's own-initiative decisions and its internal complaint handling: decisions by
restriction kind and by policy, the shares detected and decided by automated means, appeals
received, decided and overturned with the median time to decide them, cases decided with the
median time to decision, and suspensions of repeat offenders (Art. 23). Medians are exact: the
middle row (or the mean of the two middle rows) in SQL, never a histogram's estimate.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q

from .choices import AppealState, DecisionKind, RestrictionKind
from .models import Appeal, Case, Decision, Restriction

# Decisions that restrict, and those that suspend an account's use in full.
RESTRICTIVE_KINDS = (DecisionKind.SUSPEND, DecisionKind.RESTRICT, DecisionKind.TERMINATE)
APPEAL_DECIDED = (AppealState.UPHELD, AppealState.OVERTURNED, AppealState.MODIFIED)


@dataclass(frozen=True)
class Row:
    section: str
    metric: str
    breakdown: str
    value: float | int | None
    unit: str


@dataclass
class TransparencyReport:
    start: datetime
    end: datetime
    rows: list[Row] = field(default_factory=list)

    def add(
        self, section: str, metric: str, value: float | int | None, *, by: str = "", unit: str = ""
    ) -> None:
        self.rows.append(Row(section, metric, by, value, unit or "count"))

    def value(self, metric: str, by: str = "") -> float | int | None:
        for row in self.rows:
            if row.metric == metric and row.breakdown == by:
                return row.value
        raise KeyError((metric, by))

    def section(self, section: str) -> list[Row]:
        return [row for row in self.rows if row.section == section]

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["period_start", "period_end", "section", "metric", "breakdown", "value", "unit"]
        )
        for row in self.rows:
            value = (
                ""
                if row.value is None
                else (f"{row.value:.1f}" if isinstance(row.value, float) else str(row.value))
            )
            writer.writerow(
                [
                    f"{self.start:%Y-%m-%d}",
                    f"{self.end:%Y-%m-%d}",
                    row.section,
                    row.metric,
                    row.breakdown,
                    value,
                    row.unit,
                ]
            )
        return out.getvalue()


def _seconds_sql(start: str, end: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({end} - {start}))"
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


def median_seconds(table: str, start: str, end: str, where: str, params: list[Any]) -> float | None:
    """The exact median of ``end - start`` in seconds over the rows of ``table`` that ``where``
    keeps: the middle value of the sorted durations, or the mean of the two middle ones."""
    return median_and_count(table, start, end, where, params)[0]


def median_and_count(
    table: str, start: str, end: str, where: str, params: list[Any]
) -> tuple[float | None, int]:
    """``median_seconds`` and the number of rows it is the median of, in one query.

    PostgreSQL's ``percentile_cont(0.5)`` is that median (the middle value, or the mean of the
    two middle ones) in one sort; elsewhere the rows are numbered in order and the middle ones
    averaged.
    """
    duration = _seconds_sql(start, end)
    if connection.vendor == "postgresql":
        sql = f"""
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {duration}), COUNT(*)
            FROM {table} WHERE {where}
        """  # noqa: S608 -- table and column names are ours; values are parameters
    else:
        sql = f"""
            SELECT AVG(d), MAX(n) FROM (
                SELECT d, ROW_NUMBER() OVER (ORDER BY d) AS rn, COUNT(*) OVER () AS n
                FROM (SELECT {duration} AS d FROM {table} WHERE {where}) AS durations
            ) AS ranked
            WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
        """  # noqa: S608 -- table and column names are ours; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if not row or row[0] is None:
        return None, 0
    return float(row[0]), int(row[1])


def transparency_report(*, start: datetime, end: datetime) -> TransparencyReport:
    """The figures of ``[start, end)``."""
    report = TransparencyReport(start=start, end=end)
    period = Q(decided_at__gte=start, decided_at__lt=end)
    decisions = Decision.objects.filter(
        period, kind__in=(*RESTRICTIVE_KINDS, DecisionKind.APPEAL_MODIFIED)
    )
    section = "own_initiative_decisions"
    report.add(section, "decisions_restrictive", decisions.count())
    restrictions = Counter(
        Restriction.objects.filter(decision__in=decisions).values_list("kind", flat=True)
    )
    for kind in RestrictionKind.values:
        report.add(section, "restrictions_by_kind", restrictions.get(kind, 0), by=kind)
    policies: Counter[str] = Counter()
    automated_detection = automated_decision = 0
    total = 0
    for statement, policy_versions, automated in decisions.values_list(
        "statement", "policy_versions", "automated"
    ):
        total += 1
        for code in sorted({p["code"] for p in policy_versions or []}):
            policies[code] += 1
        if (statement or {}).get("automated_detection") is True:
            automated_detection += 1
        if automated or (statement or {}).get("automated_decision") == "fully":
            automated_decision += 1
    for code in sorted(policies):
        report.add(section, "decisions_by_policy", policies[code], by=code)
    report.add(section, "decisions_automated_detection", automated_detection)
    report.add(section, "decisions_automated_decision", automated_decision)
    share = lambda n: round(100.0 * n / total, 1) if total else None  # noqa: E731
    report.add(section, "share_automated_detection", share(automated_detection), unit="percent")
    report.add(section, "share_automated_decision", share(automated_decision), unit="percent")

    # Art. 23: suspensions of accounts that an earlier decision had already restricted.
    earlier = Decision.objects.filter(
        account=OuterRef("account"),
        kind__in=RESTRICTIVE_KINDS,
        decided_at__lt=OuterRef("decided_at"),
    )
    report.add(
        "misuse_suspensions",
        "suspensions_of_repeat_offenders",
        Decision.objects.filter(period, kind=DecisionKind.SUSPEND).filter(Exists(earlier)).count(),
    )

    closed = Case.objects.filter(closed_at__gte=start, closed_at__lt=end)
    report.add("cases", "cases_decided", closed.count())
    cases_table = Case._meta.db_table
    report.add(
        "cases",
        "median_time_to_decision",
        median_seconds(
            cases_table,
            "created_at",
            "closed_at",
            "closed_at >= %s AND closed_at < %s",
            [start, end],
        ),
        unit="seconds",
    )

    section = "complaints"
    report.add(
        section,
        "appeals_received",
        Appeal.objects.filter(filed_at__gte=start, filed_at__lt=end).count(),
    )
    decided = Appeal.objects.filter(
        state__in=APPEAL_DECIDED, decided_at__gte=start, decided_at__lt=end
    )
    report.add(section, "appeals_decided", decided.count())
    outcomes = Counter(decided.values_list("state", flat=True))
    for state in APPEAL_DECIDED:
        report.add(section, "appeals_by_outcome", outcomes.get(state, 0), by=str(state))
    report.add(
        section,
        "appeals_withdrawn",
        Appeal.objects.filter(
            state=AppealState.WITHDRAWN, withdrawn_at__gte=start, withdrawn_at__lt=end
        ).count(),
    )
    placeholders = ", ".join(["%s"] * len(APPEAL_DECIDED))
    report.add(
        section,
        "median_time_to_decide_appeal",
        median_seconds(
            Appeal._meta.db_table,
            "filed_at",
            "decided_at",
            f"state IN ({placeholders}) AND decided_at >= %s AND decided_at < %s",
            [*APPEAL_DECIDED, start, end],
        ),
        unit="seconds",
    )
    return report
