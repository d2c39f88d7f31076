"""Reads for the API: cases, their timeline, accounts and enforcement.

Staff may view everything (workflow.md); API clients read by scope, which the views check.
Every selector returns what one response needs in a bounded number of queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection
from django.db.models import Exists, JSONField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.choices import EnforcementStatus
from accounts.models import Account, ApiClient, Partner
from config.times import iso

from .choices import OPEN_STATES
from .enforcement import as_of, next_end
from .models import (
    CannedReason,
    Case,
    CaseEvent,
    CaseNote,
    EnforcementChange,
    EvidenceItem,
    EvidenceReference,
    Signal,
)

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


def _now_text() -> str:
    return iso(timezone.now())


def _enforcement_row(
    *,
    external_id: str,
    status: str,
    since: Any,
    until: Any,
    case: int | None,
    restrictions: Any,
    policies: Any,
    now: str,
) -> dict[str, Any]:
    """One account's enforcement as reported at ``now``: what was stored, with the
    restrictions past their ``ends_at`` dropped (``cases.enforcement.as_of``)."""
    status, since_text, until_text, case, views = as_of(
        status=status,
        since=since if isinstance(since, str) else iso(since),
        until=until if until is None or isinstance(until, str) else iso(until),
        case=case,
        restrictions=restrictions or [],
        now=now,
    )
    return {
        "account": external_id,
        "status": status,
        "since": since_text,
        "until": until_text,
        "case": case,
        "policies": _codes(policies) if status != EnforcementStatus.ACTIVE else [],
        "restrictions": views,
    }


def enforcement_fresh_for(row: dict[str, Any]) -> float | None:
    """Seconds for which ``row`` stays true by itself (until its next ``ends_at``), if bounded:
    a cached copy must not outlive it."""
    end = next_end(row["restrictions"])
    if end is None:
        return None
    parsed = parse_datetime(end)
    assert parsed is not None  # noqa: S101 -- contract text, written by iso()
    return max((parsed - timezone.now()).total_seconds(), 0.0)


def account_enforcement_now(account: Account) -> dict[str, Any]:
    """An account row's enforcement as reported now (restrictions past ``ends_at`` dropped)."""
    return _enforcement_row(
        external_id=account.external_id,
        status=account.enforcement_status,
        since=account.enforcement_since,
        until=account.enforcement_until,
        case=account.enforcement_case_id,
        restrictions=account.enforcement_restrictions,
        policies=[],
        now=_now_text(),
    )


def enforcement_get(*, external_id: str) -> dict[str, Any] | None:
    """An account's enforcement in one indexed read; ``None`` if never seen."""
    rows = list(
        Account.objects.filter(external_id=external_id)
        .annotate(change_policies=_latest_change_policies())
        .values(
            "external_id",
            "enforcement_status",
            "enforcement_since",
            "enforcement_until",
            "enforcement_case_id",
            "enforcement_restrictions",
            "change_policies",
        )[:1]
    )
    if not rows:
        return None
    row = rows[0]
    return _enforcement_row(
        external_id=row["external_id"],
        status=row["enforcement_status"],
        since=row["enforcement_since"],
        until=row["enforcement_until"],
        case=row["enforcement_case_id"],
        restrictions=row["enforcement_restrictions"],
        policies=row["change_policies"],
        now=_now_text(),
    )


_LOOKUP_SQL = """
    SELECT c.id, c.name, c.key_hash, c.scopes, c.role,
           a.external_id, a.enforcement_status, a.enforcement_since, a.enforcement_case_id,
           (SELECT e.policies FROM {change} e WHERE e.account_id = a.id
             ORDER BY e.seq DESC LIMIT 1),
           a.enforcement_until, a.enforcement_restrictions
    FROM {client} c
    LEFT JOIN {account} a ON a.external_id = %s
    WHERE c.key_prefix = %s AND c.revoked_at IS NULL
"""


def _json_value(value: Any) -> Any:
    """A JSON column read by raw SQL: text (orjson parses it several times faster than
    ``json``), or already parsed by the driver."""
    return orjson.loads(value) if isinstance(value, str) else value


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
    """The active API client of ``key_prefix`` and the account's enforcement, in one round trip.

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
    until = _db_datetime(row[10])
    return client, _enforcement_row(
        external_id=row[5],
        status=row[6],
        since=_db_datetime(row[7]),
        until=until,
        case=row[8],
        restrictions=_json_value(row[11]),
        policies=_json_value(row[9]),
        now=_now_text(),
    )


def _time_text_sql(column: str) -> str:
    """SQL writing ``column`` as contract text (``config.times.iso``), NULL as NULL: parsing and
    re-formatting 1,000 datetimes in Python would cost more than the query."""
    if connection.vendor == "postgresql":
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    # SQLite keeps "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC; the fraction is always 6 digits.
    return f"replace(substr({column} || '.000000', 1, 26), ' ', 'T') || 'Z'"


def _next_end_sql() -> str:
    """SQL for the earliest ``ends_at`` among an account's restrictions (contract text, which
    sorts as time does), NULL if none ends by itself."""
    if connection.vendor == "postgresql":
        return (
            "CASE WHEN enforcement_restrictions = '[]'::jsonb THEN NULL ELSE "
            "(SELECT min(r->>'ends_at') FROM jsonb_array_elements(enforcement_restrictions) r) END"
        )
    return (
        "(SELECT min(json_extract(r.value, '$.ends_at')) "
        "FROM json_each(enforcement_restrictions) r)"
    )


_NO_RESTRICTIONS = orjson.Fragment(b"[]")


def enforcement_check(*, external_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Enforcement of many accounts in one query, in the order asked; unknown ones have none.

    Values are JSON-ready: times are the text ``config.times.iso`` writes (UTC, to the
    microsecond, ``Z``), made by the database; restrictions past their ``ends_at`` are dropped.
    An account none of whose restrictions has reached its end (the database says when the
    first ends) is answered with its restrictions as stored, JSON text passed through to the
    response (``orjson.Fragment``) unparsed; only the others are read and derived again.

    Raw SQL (``= ANY(%s)`` on PostgreSQL): with 1,000 ids the ORM's per-parameter work would
    cost more than the read itself.
    """
    wanted = list(dict.fromkeys(external_ids))
    table = Account._meta.db_table
    restrictions_text = (
        "enforcement_restrictions::text"
        if connection.vendor == "postgresql"
        else "enforcement_restrictions"
    )
    columns = (
        f"external_id, enforcement_status, {_time_text_sql('enforcement_since')}, "
        f"enforcement_case_id, {_time_text_sql('enforcement_until')}, {restrictions_text}, "
        f"{_next_end_sql()}"
    )
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
    now = _now_text()
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
                    "until": None,
                    "case": None,
                    "restrictions": [],
                }
            )
            continue
        status, since, until, case = row[1], row[2], row[4], row[3]
        text, next_end = row[5], row[6]
        restrictions: Any
        if not text or text == "[]":
            restrictions = _NO_RESTRICTIONS
        elif next_end is None or next_end > now:
            restrictions = orjson.Fragment(text)
        else:
            status, since, until, case, restrictions = as_of(
                status=status,
                since=since,
                until=until,
                case=case,
                restrictions=_json_value(text),
                now=now,
            )
        results.append(
            {
                "account": external_id,
                "known": True,
                "status": status,
                "since": since,
                "until": until,
                "case": case,
                "restrictions": restrictions,
            }
        )
    return results


def enforcement_changes(*, after: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Changes with ``seq`` above ``after`` in commit order, and whether more follow.

    Each carries the account's restrictions in force right after it, with their ``ends_at``:
    a follower applies those itself, as the lookup does.
    """
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
            "restrictions",
            "until",
            "decision__reference",
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
            "restrictions": r["restrictions"] or [],
            "until": r["until"],
            "decision": r["decision__reference"],
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


def _evidence_items() -> QuerySet[EvidenceItem]:
    # Custody events come in their model's order: by item, then seq.
    return EvidenceItem.objects.select_related("event").prefetch_related("custody")


def evidence_items_of_case(*, case_id: int) -> QuerySet[EvidenceItem]:
    """A case's evidence items, oldest first, with their custody logs."""
    return _evidence_items().filter(case_id=case_id).order_by("acquired_at", "id")


def evidence_item_get(*, item_id: int) -> EvidenceItem | None:
    """One evidence item with its custody log."""
    return _evidence_items().filter(pk=item_id).first()


def contactless_accounts() -> QuerySet[Account]:
    """Accounts with an open case and no contact address: their notices reach no one."""
    open_case = Case.objects.filter(account=OuterRef("pk"), state__in=OPEN_STATES)
    return Account.objects.filter(contacts=[]).filter(Exists(open_case))


def canned_reasons_active() -> list[CannedReason]:
    """Every active canned reason, by title: one read for a page with several forms."""
    return list(CannedReason.objects.filter(active=True))


def canned_reasons_for(
    *, action: str, active: Sequence[CannedReason] | None = None
) -> list[CannedReason]:
    """The active canned reasons offered for ``action``, by title, among ``active`` when the
    caller read them already. The table is a handful of rows kept by leads, so the actions (a
    JSON list, which SQLite cannot search) are matched here rather than in SQL."""
    rows = canned_reasons_active() if active is None else active
    return [r for r in rows if r.active and r.applies_to(action)]
