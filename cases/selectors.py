"""Reads for the API: cases, their timeline, accounts and enforcement.

Staff may view everything (workflow.md); API clients read by scope, which the views check.
Every selector returns what one response needs in a bounded number of queries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import JSONField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.choices import EnforcementStatus
from accounts.models import Account, ApiClient, Partner

from .choices import OPEN_STATES
from .models import Case, CaseEvent, CaseNote, EnforcementChange, EvidenceReference, Signal

CASE_SIGNALS_SHOWN = 100


def _latest_change_policies() -> Subquery:
    return Subquery(
        EnforcementChange.objects.filter(account_id=OuterRef("pk"))
        .order_by("-seq")
        .values("policies")[:1],
        output_field=JSONField(),
    )


def _codes(citations: Any) -> list[str]:
    if not isinstance(citations, list):
        return []
    return [c["code"] for c in citations if isinstance(c, dict) and "code" in c]


def enforcement_get(*, external_id: str) -> dict[str, Any] | None:
    """An account's enforcement status in one indexed read; ``None`` if never seen."""
    rows = list(
        Account.objects.filter(external_id=external_id)
        .annotate(change_policies=_latest_change_policies())
        .values(
            "external_id",
            "enforcement_status",
            "enforcement_since",
            "enforcement_case_id",
            "change_policies",
        )[:1]
    )
    if not rows:
        return None
    row = rows[0]
    status = row["enforcement_status"]
    return {
        "account": row["external_id"],
        "status": status,
        "since": row["enforcement_since"],
        "case": row["enforcement_case_id"],
        "policies": _codes(row["change_policies"]) if status != EnforcementStatus.ACTIVE else [],
    }


_LOOKUP_SQL = """
    SELECT c.id, c.name, c.key_hash, c.scopes, c.role,
           a.external_id, a.enforcement_status, a.enforcement_since, a.enforcement_case_id,
           (SELECT e.policies FROM {change} e WHERE e.account_id = a.id
             ORDER BY e.seq DESC LIMIT 1)
    FROM {client} c
    LEFT JOIN {account} a ON a.external_id = %s
    WHERE c.key_prefix = %s AND c.revoked_at IS NULL
"""


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _db_datetime(value: Any) -> Any:
    """A datetime from raw SQL: SQLite hands back naive UTC (or text), PostgreSQL aware."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if isinstance(value, datetime) and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def enforcement_get_with_key(
    *, key_prefix: str, external_id: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The active API client of ``key_prefix`` and the account's status, in one round trip.

    The gateway's hot path (docs/performance.md): one indexed read of the key joined to one
    indexed read of the account, in raw SQL because the ORM's per-query CPU is the cost here.
    Returns ``(client, enforcement)``; ``client`` is ``None`` for an unknown or revoked key and
    ``enforcement`` is ``None`` for an account never seen.
    """
    sql = _LOOKUP_SQL.format(
        change=EnforcementChange._meta.db_table,
        client=ApiClient._meta.db_table,
        account=Account._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [external_id, key_prefix])
        row = cursor.fetchone()
    if row is None:
        return None, None
    client = {
        "id": row[0],
        "name": row[1],
        "hash": row[2],
        "scopes": list(_json_value(row[3]) or []),
        "role": row[4],
    }
    if row[5] is None:
        return client, None
    status = row[6]
    return client, {
        "account": row[5],
        "status": status,
        "since": _db_datetime(row[7]),
        "case": row[8],
        "policies": _codes(_json_value(row[9])) if status != EnforcementStatus.ACTIVE else [],
    }


def enforcement_check(*, external_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Statuses of many accounts in one query, in the order asked; unknown ones have no status.

    Values are JSON-ready: ``since`` is the text ``config.times.iso`` writes (UTC, to the
    microsecond, ``Z``), made by the database.

    Raw SQL (``= ANY(%s)`` on PostgreSQL): with 1,000 ids the ORM's per-parameter work would
    cost more than the read itself.
    """
    wanted = list(dict.fromkeys(external_ids))
    table = Account._meta.db_table
    # The database writes the time as ISO 8601 text: parsing and re-formatting 1,000 datetimes
    # in Python would cost more than the query.
    since = (
        """to_char(enforcement_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
        if connection.vendor == "postgresql"
        # SQLite keeps "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC; the fraction is always 6 digits.
        else "replace(substr(enforcement_since || '.000000', 1, 26), ' ', 'T') || 'Z'"
    )
    columns = f"external_id, enforcement_status, {since}, enforcement_case_id"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT {columns} FROM {table} WHERE external_id = ANY(%s)",  # noqa: S608
                [wanted],
            )
        else:
            marks = ", ".join(["%s"] * len(wanted))
            cursor.execute(
                f"SELECT {columns} FROM {table} WHERE external_id IN ({marks})",  # noqa: S608
                wanted,
            )
        found = {row[0]: row for row in cursor.fetchall()}
    results = []
    for external_id in external_ids:
        row = found.get(external_id)
        if row is None:
            results.append(
                {
                    "account": external_id,
                    "known": False,
                    "status": None,
                    "since": None,
                    "case": None,
                }
            )
        else:
            results.append(
                {
                    "account": external_id,
                    "known": True,
                    "status": row[1],
                    "since": row[2],
                    "case": row[3],
                }
            )
    return results


def enforcement_changes(*, after: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Changes with ``seq`` above ``after`` in commit order, and whether more follow."""
    rows = list(
        EnforcementChange.objects.filter(seq__gt=after)
        .order_by("seq")
        .values(
            "seq",
            "account__external_id",
            "status",
            "previous_status",
            "case_id",
            "policies",
            "at",
        )[: limit + 1]
    )
    more = len(rows) > limit
    return [
        {
            "seq": r["seq"],
            "account": r["account__external_id"],
            "status": r["status"],
            "previous_status": r["previous_status"],
            "case": r["case_id"],
            "policies": _codes(r["policies"]),
            "at": r["at"],
        }
        for r in rows[:limit]
    ], more


# --- cases --------------------------------------------------------------------------------------


def case_list() -> QuerySet[Case]:
    return Case.objects.select_related("account", "assignee").prefetch_related(Prefetch("policies"))


def case_filter_overdue(queryset: QuerySet[Case], overdue: bool) -> QuerySet[Case]:
    late = Q(state__in=OPEN_STATES, review_deadline__lt=timezone.now())
    return queryset.filter(late) if overdue else queryset.exclude(late)


def case_get(*, case_id: int) -> Case | None:
    return (
        Case.objects.select_related("account", "assignee", "remediation_plan")
        .prefetch_related("policies", "incidents", "remediation_plan__items")
        .filter(pk=case_id)
        .first()
    )


def case_signals(*, case: Case, limit: int = CASE_SIGNALS_SHOWN) -> list[Signal]:
    """The case's most recent signals (through its incidents)."""
    ids = Signal.incidents.through.objects.filter(incident__case=case).values("signal_id")
    return list(
        Signal.objects.filter(pk__in=ids)
        .select_related("policy")
        .order_by("-occurred_at", "-id")[:limit]
    )


def case_signal_count(*, case: Case) -> int:
    return (
        Signal.incidents.through.objects.filter(incident__case=case)
        .values("signal_id")
        .distinct()
        .count()
    )


def case_events(*, case_id: int) -> QuerySet[CaseEvent]:
    return CaseEvent.objects.filter(case_id=case_id).order_by("seq")


# --- accounts -----------------------------------------------------------------------------------


def account_list() -> QuerySet[Account]:
    open_case = Case.objects.filter(account_id=OuterRef("pk"), state__in=OPEN_STATES)
    return Account.objects.prefetch_related(
        Prefetch("partners", queryset=Partner.objects.order_by("code"))
    ).annotate(
        open_case_id=Subquery(open_case.values("pk")[:1]),
        open_case_state=Subquery(open_case.values("state")[:1]),
        open_case_priority=Subquery(open_case.values("priority")[:1]),
    )


def account_get(*, external_id: str) -> Account | None:
    return account_list().filter(external_id=external_id).first()


def partner_list() -> QuerySet[Partner]:
    return Partner.objects.order_by("code")


def case_records_current(
    *, case: Case, model: type[CaseNote] | type[EvidenceReference], limit: int
) -> list[Any]:
    """A case's notes (or evidence references) as they stand, newest first, in two queries.

    Each row is the current version; ``row.history`` lists the versions it corrected, newest
    first (empty if it was never corrected).
    """
    current = list(
        model.objects.filter(case=case, correction__isnull=True).order_by("-created_at", "-id")[
            :limit
        ]
    )
    superseded = {row.pk: row for row in model.objects.filter(case=case, correction__isnull=False)}
    for row in current:
        history = []
        older = superseded.get(row.corrects_id) if row.corrects_id else None
        while older is not None:
            history.append(older)
            older = superseded.get(older.corrects_id) if older.corrects_id else None
        row.history = history
    return current
