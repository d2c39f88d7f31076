"""Set-based loading of benchmark data: COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.guards import audit_guard_lifted, truncate_guards_disabled

ACCOUNT_COLUMNS = (
    "external_id",
    "name",
    "tier",
    "contacts",
    "direct",
    "enforcement_status",
    "enforcement_since",
    "enforcement_restrictions",
    "created_at",
    "updated_at",
)
CASE_COLUMNS = (
    "account_id",
    "state",
    "priority",
    "summary",
    "findings",
    "review_deadline",
    "state_entered_at",
    "opened_by",
    "created_at",
    "updated_at",
    "closed_at",
)
DATA_TABLES = (
    "notifications_deliveryattempt",
    "notifications_notice",
    "cases_reminder",
    "cases_incidentsignal",
    "cases_incident",
    "cases_signal",
    "cases_restriction",
    "cases_enforcementchange",
    "cases_decision",
    "cases_caseevent",
    "cases_case_policies",
    "cases_remediationitem",
    "cases_remediationplan",
    "cases_casenote",
    "cases_evidencereference",
    "cases_case",
    "accounts_channel",
    "accounts_account",
)


def account_id_text(n: int) -> str:
    return f"acct-{n:07d}"


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cols = ", ".join(columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"  # noqa: S608
            batch: list[Sequence[Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= 5000:
                    cursor.executemany(sql, batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)


def reset() -> None:
    """Empty the tables the benchmarks fill (the audit guards are lifted, as for ``flush``)."""
    with (
        audit_guard_lifted(),
        truncate_guards_disabled(connection),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")
        else:
            for table in DATA_TABLES:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608


def load_accounts(count: int) -> None:
    """``count`` active accounts (``load_restrictions`` restricts some of them)."""
    now = timezone.now()
    contacts = json.dumps(["ops@example.com"])

    def rows() -> Iterable[Sequence[Any]]:
        for n in range(1, count + 1):
            yield (
                account_id_text(n),
                f"Account {n}",
                "build",
                contacts,
                True,
                "active",
                now,
                "[]",
                now,
                now,
            )

    with transaction.atomic():
        copy_rows("accounts_account", ACCOUNT_COLUMNS, rows())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE accounts_account")


def load_cases(total: int, due: int, *, accounts: int, now: datetime | None = None) -> None:
    """``total`` cases over ``accounts`` accounts: ``due`` open ones due now, a few thousand
    open ones due far in the future, the rest closed (one open case per account at most)."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(id) FROM accounts_account")
        first_id = cursor.fetchone()[0]
    open_future = min(accounts - due, 5000)

    def rows() -> Iterable[Sequence[Any]]:
        for n in range(total):
            account = first_id + (n % accounts)
            if n < due:
                state, deadline, closed = "flagged", now - timedelta(minutes=5 + n % 600), None
            elif n < due + open_future:
                state, deadline, closed = "suspended", now + timedelta(days=9), None
            else:
                state, deadline, closed = "dismissed", None, now - timedelta(days=1)
            created = now - timedelta(days=3)
            yield (
                account,
                state,
                ("critical", "high", "medium", "low")[n % 4],
                "Benchmark case",
                "",
                deadline,
                created,
                "bench",
                created,
                created,
                closed,
            )

    with transaction.atomic():
        copy_rows("cases_case", CASE_COLUMNS, rows())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE cases_case")


@dataclass(frozen=True)
class Variant:
    """A kind of account the lookup and check benchmarks meet, and its share of the accounts."""

    name: str
    share: float
    spec: dict[str, Any]
    duration: timedelta | None
    started_within: timedelta  # the restriction began up to this long ago


# About a third restricted (a rate limit or a model block, each for a while), a few suspended
# (most for a fixed time), the rest active: what a gateway asking about its traffic meets.
VARIANTS = (
    Variant(
        "rate_limit",
        0.17,
        {"kind": "rate_limit", "requests_per_minute": 60, "tokens_per_minute": 40_000},
        timedelta(days=30),
        timedelta(days=20),
    ),
    Variant(
        "model_block",
        0.16,
        {"kind": "model_block", "models": ("frontier-large", "frontier-vision")},
        timedelta(days=60),
        timedelta(days=40),
    ),
    Variant(
        "suspension_timed", 0.03, {"kind": "suspension"}, timedelta(days=14), timedelta(days=10)
    ),
    Variant("suspension", 0.02, {"kind": "suspension"}, None, timedelta(days=10)),
)
BENCH_POLICY = "bench-acceptable-use"


def _policy() -> str:
    from cases.models import PolicyClause, PolicyVersion

    clause, made = PolicyClause.objects.get_or_create(
        code=BENCH_POLICY,
        defaults={"title": "Bench acceptable use", "severity": "high", "current_version": 1},
    )
    if made:
        PolicyVersion.objects.create(
            policy=clause,
            version=1,
            title=clause.title,
            text="Customers must not abuse the API.",
            severity="high",
        )
    return clause.code


def derived(restrictions: Sequence[Any], references: Sequence[str]) -> dict[str, Any]:
    """The account row's enforcement fields for ``restrictions`` in force, as
    ``cases.services.decisions.enforcement_derive`` writes them (the same functions)."""
    from cases.enforcement import holder_of, ordered, restriction_view, status_of, until_of

    views = ordered(
        restriction_view(r, ref) for r, ref in zip(restrictions, references, strict=True)
    )
    status = status_of(views)
    until = until_of(views, status)
    return {
        "enforcement_status": status,
        "enforcement_case_id": holder_of(views),
        "enforcement_restrictions": views,
        "enforcement_until": parse_datetime(until) if until else None,
    }


def _through_services(account_id: int, variant: Variant, policy: str) -> None:
    from accounts.models import Account
    from cases.actions import RestrictionSpec, Suspend
    from cases.services import case_open, case_transition
    from core.actors import Actor

    actor = Actor.system("bench")
    case = case_open(
        account=Account.objects.get(pk=account_id),
        summary="Benchmark case",
        actor=actor,
        policies=[policy],
    )
    case_transition(
        case=case,
        command=Suspend(
            reason="Benchmark restriction",
            policies=[policy],
            restriction=RestrictionSpec(**variant.spec),
            duration=variant.duration,
        ),
        actor=actor,
    )


def _same_as_template(template_id: int, clone_id: int) -> None:
    """A seeded account reads back as one restricted through the services does (its own
    account, case and decision aside), and its row holds what ``enforcement_derive`` wrote."""
    from accounts.models import Account
    from cases.models import Restriction
    from cases.selectors import enforcement_get

    template = Account.objects.get(pk=template_id)
    rows = list(
        Restriction.objects.filter(account_id=template_id).select_related("decision").order_by("id")
    )
    expected = derived(rows, [r.decision.reference for r in rows])
    stored = {name: getattr(template, name) for name in expected}
    if stored != expected:
        raise AssertionError(f"derivation differs from the services: {stored} != {expected}")

    def seen(account_id: int) -> dict[str, Any]:
        external_id = Account.objects.values_list("external_id", flat=True).get(pk=account_id)
        answer = enforcement_get(external_id=external_id)
        assert answer is not None
        answer = {**answer, "account": "-", "case": answer["case"] is not None}
        answer["restrictions"] = [
            {**r, "decision": r["decision"].startswith("sor_"), "case": r["case"] is not None}
            for r in answer["restrictions"]
        ]
        return answer

    if seen(template_id) != seen(clone_id):
        raise AssertionError(
            f"seeded account reads back differently: {seen(clone_id)} != {seen(template_id)}"
        )


def load_restrictions(count: int, *, seed: int = 7) -> dict[str, int]:
    """Restrict about two fifths of the first ``count`` accounts (``VARIANTS``).

    The first account of each variant is restricted through the services (``case_open``, then
    ``case_transition`` with ``Suspend``); the others in bulk, as copies of it (case, decision,
    restriction, enforcement change, the account's enforcement fields), each with a start of its
    own. The first copy starts when its template did and must read back the same
    (``_same_as_template``). Timeline events and notices are not copied: no reader of the
    benchmarks looks at them. Returns how many accounts each variant got.
    """
    from cases.models import Case, Decision, EnforcementChange, FeedCounter, Restriction
    from cases.statements import statement_reference_new

    FEED = FeedCounter.ENFORCEMENT
    rng = random.Random(seed)
    policy = _policy()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(id) FROM accounts_account")
        first_id = cursor.fetchone()[0]
    assigned: dict[str, list[int]] = {v.name: [] for v in VARIANTS}
    for n in range(count):
        draw = rng.random()
        for variant in VARIANTS:
            if draw < variant.share:
                assigned[variant.name].append(first_id + n)
                break
            draw -= variant.share
    for variant in VARIANTS:
        _through_services(assigned[variant.name][0], variant, policy)

    policies_through = Case.policies.through
    updates: list[tuple[Any, ...]] = []
    checks: list[tuple[int, int]] = []
    with transaction.atomic():
        counter = FeedCounter.objects.select_for_update().get(name=FEED)
        seq = counter.value
        for variant in VARIANTS:
            template_id, *others = assigned[variant.name]
            t_restriction = Restriction.objects.select_related("decision", "case").get(
                account_id=template_id
            )
            t_case, t_decision = t_restriction.case, t_restriction.decision
            t_change = EnforcementChange.objects.get(decision=t_decision)
            t_policies = list(t_case.policies.values_list("pk", flat=True))
            deadline_after = (
                t_case.review_deadline - t_case.state_entered_at
                if t_case.review_deadline is not None
                else None
            )
            starts = [t_restriction.starts_at] + [
                now - timedelta(seconds=rng.uniform(60, variant.started_within.total_seconds()))
                for _ in others[1:]
            ]
            others_starts = list(zip(others, starts, strict=True))
            cases = Case.objects.bulk_create(
                (
                    Case(
                        account_id=account_id,
                        state=t_case.state,
                        priority=t_case.priority,
                        summary=t_case.summary,
                        review_deadline=start + deadline_after if deadline_after else None,
                        state_entered_at=start,
                        opened_by=t_case.opened_by,
                        created_at=start,
                        updated_at=start,
                    )
                    for account_id, start in others_starts
                ),
                batch_size=2000,
            )
            policies_through.objects.bulk_create(
                (
                    policies_through(case_id=case.pk, policyclause_id=p)
                    for case in cases
                    for p in t_policies
                ),
                batch_size=5000,
            )
            statement_text = json.dumps(t_decision.statement)
            references = [statement_reference_new() for _ in cases]
            decisions = Decision.objects.bulk_create(
                (
                    Decision(
                        reference=ref,
                        kind=t_decision.kind,
                        case_id=case.pk,
                        account_id=case.account_id,
                        decided_at=case.state_entered_at,
                        actor_kind=t_decision.actor_kind,
                        acted_by=t_decision.acted_by,
                        actor_label=t_decision.actor_label,
                        automated=t_decision.automated,
                        reason=t_decision.reason,
                        policy_versions=t_decision.policy_versions,
                        statement=json.loads(statement_text.replace(t_decision.reference, ref)),
                    )
                    for case, ref in zip(cases, references, strict=True)
                ),
                batch_size=2000,
            )
            restrictions = Restriction.objects.bulk_create(
                (
                    Restriction(
                        decision_id=decision.pk,
                        account_id=decision.account_id,
                        case_id=decision.case_id,
                        kind=t_restriction.kind,
                        blocked_models=t_restriction.blocked_models,
                        blocked_features=t_restriction.blocked_features,
                        requests_per_minute=t_restriction.requests_per_minute,
                        tokens_per_minute=t_restriction.tokens_per_minute,
                        starts_at=decision.decided_at,
                        ends_at=decision.decided_at + variant.duration
                        if variant.duration
                        else None,
                    )
                    for decision in decisions
                ),
                batch_size=2000,
            )
            changes = []
            for restriction, decision in zip(restrictions, decisions, strict=True):
                fields = derived([restriction], [decision.reference])
                seq += 1
                changes.append(
                    EnforcementChange(
                        seq=seq,
                        account_id=decision.account_id,
                        case_id=decision.case_id,
                        decision_id=decision.pk,
                        status=fields["enforcement_status"],
                        previous_status=t_change.previous_status,
                        policies=t_change.policies,
                        restrictions=fields["enforcement_restrictions"],
                        until=fields["enforcement_until"],
                        at=decision.decided_at,
                    )
                )
                updates.append(
                    (
                        fields["enforcement_status"],
                        connection.ops.adapt_datetimefield_value(decision.decided_at),
                        connection.ops.adapt_datetimefield_value(fields["enforcement_until"]),
                        fields["enforcement_case_id"],
                        json.dumps(fields["enforcement_restrictions"]),
                        connection.ops.adapt_datetimefield_value(decision.decided_at),
                        decision.account_id,
                    )
                )
            EnforcementChange.objects.bulk_create(changes, batch_size=2000)
            checks.append((template_id, others[0]))
        FeedCounter.objects.filter(name=FEED).update(value=seq)
        restrictions = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE accounts_account SET enforcement_status = %s, enforcement_since = %s, "  # noqa: S608
                "enforcement_until = %s, enforcement_case_id = %s, enforcement_restrictions = "
                + restrictions
                + ", updated_at = %s WHERE id = %s",
                updates,
            )
    for template_id, clone_id in checks:
        _same_as_template(template_id, clone_id)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("accounts_account", "cases_case", "cases_enforcementchange"):
                cursor.execute(f"ANALYZE {table}")
    return {name: len(ids) for name, ids in assigned.items()}
