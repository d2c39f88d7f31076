"""``transparency_report`` for a seeded period: the counts and the exact medians are those this
test computes from the rows themselves."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from accounts.models import Account
from cases.actions import AppealDecide, AppealFile, Dismiss, RestrictionSpec, Suspend
from cases.models import Appeal, Case, Decision
from cases.services import (
    appeal_decide,
    appeal_file,
    appeal_withdraw,
    case_open,
    case_transition,
)
from cases.transparency_report import median_seconds, transparency_report
from core.actors import Actor
from tests.cases.deadline_helpers import T0, frozen
from tests.cases.services.helpers import VALID_INPUT

POLICY = "competing-model-development"
START, END = T0 - timedelta(days=1), T0 + timedelta(days=30)


def _account(name: str) -> Account:
    return Account.objects.get_or_create(external_id=name, defaults={"name": name})[0]


@pytest.fixture
def seeded(policies: Any, users: dict[str, User]) -> None:
    lead = Actor.for_user(users["lead"])
    investigator = Actor.for_user(users["investigator"])
    system = Actor.system("detector")
    with frozen(T0) as clock:
        # Before the period: a suspension of repeat-co, which makes its next one a repeat.
        clock.now = START - timedelta(days=3)
        old = case_open(account=_account("repeat-co"), summary="s", actor=system)
        case_transition(case=old, command=Suspend(reason="r", policies=[POLICY]), actor=lead)
        clock.tick(hours=1)
        for action in ("investigate", "remediate"):
            case_transition(case=old, command=VALID_INPUT[action], actor=lead)
        clock.now = T0
        first = case_open(account=_account("acme"), summary="s", actor=system)
        limited = case_open(account=_account("slow-co"), summary="s", actor=system)
        dismissed = [
            case_open(account=_account(f"fine-{i}"), summary="s", actor=system) for i in range(3)
        ]
        clock.tick(minutes=30)
        case_transition(
            case=limited,
            command=Suspend(
                reason="rate",
                policies=["rate-limit-evasion"],
                restriction=RestrictionSpec(kind="rate_limit", requests_per_minute=5),
            ),
            actor=system,
        )
        clock.tick(minutes=30)
        case_transition(case=first, command=Suspend(reason="r", policies=[POLICY]), actor=lead)
        for hours, case in zip((2, 5, 11), dismissed, strict=True):
            clock.now = T0 + timedelta(hours=hours)
            case_transition(case=case, command=Dismiss(reason="no breach"), actor=lead)
        clock.now = T0 + timedelta(hours=2)
        appealed = appeal_file(
            decision=Decision.objects.get(case=first, kind="suspend"),
            command=AppealFile(reason="Not us", submitted_by="cto@acme.test"),
            actor=Actor.system("portal"),
        )
        limited_appeal = appeal_file(
            decision=Decision.objects.get(case=limited),
            command=AppealFile(reason="Too strict", submitted_by="ops@slow.test"),
            actor=Actor.system("portal"),
        )
        clock.now = T0 + timedelta(hours=5)
        appeal_decide(
            appeal=appealed,
            command=AppealDecide(outcome="overturned", reason="Shared IP"),
            actor=investigator,
        )
        clock.now = T0 + timedelta(hours=9, minutes=20)
        appeal_decide(
            appeal=limited_appeal,
            command=AppealDecide(outcome="upheld", reason="Confirmed"),
            actor=investigator,
        )
        clock.now = T0 + timedelta(days=1)
        repeat = case_open(account=_account("repeat-co"), summary="s", actor=system)
        clock.tick(minutes=10)
        case_transition(case=repeat, command=Suspend(reason="again", policies=[POLICY]), actor=lead)
        clock.tick(hours=1)
        withdrawn = appeal_file(
            decision=Decision.objects.get(case=repeat, kind="suspend"),
            command=AppealFile(reason="x", submitted_by="a@repeat.test"),
            actor=Actor.system("portal"),
        )
        appeal_withdraw(appeal=withdrawn, actor=Actor.system("portal"))
        # After the period: counted nowhere.
        clock.now = END + timedelta(hours=1)
        late = case_open(account=_account("late-co"), summary="s", actor=system)
        case_transition(case=late, command=Suspend(reason="r", policies=[POLICY]), actor=lead)


def in_period(value: Any) -> bool:
    return value is not None and START <= value < END


def test_the_figures_are_those_of_the_rows(seeded: None) -> None:
    report = transparency_report(start=START, end=END)
    restrictive = [
        d
        for d in Decision.objects.all()
        if in_period(d.decided_at)
        and d.kind in ("suspend", "restrict", "terminate", "appeal_modified")
    ]
    assert report.value("decisions_restrictive") == len(restrictive) == 3
    kinds = [r.kind for d in restrictive for r in d.restrictions.all()]
    assert report.value("restrictions_by_kind", "suspension") == kinds.count("suspension") == 2
    assert report.value("restrictions_by_kind", "rate_limit") == kinds.count("rate_limit") == 1
    assert report.value("restrictions_by_kind", "termination") == 0
    assert report.value("decisions_by_policy", POLICY) == 2
    assert report.value("decisions_by_policy", "rate-limit-evasion") == 1
    automated = [d for d in restrictive if d.statement["automated_decision"] == "fully"]
    assert report.value("decisions_automated_decision") == len(automated) == 1
    assert report.value("share_automated_decision") == round(100 * len(automated) / 3, 1)
    detected = [d for d in restrictive if d.statement["automated_detection"]]
    assert report.value("decisions_automated_detection") == len(detected)
    assert report.value("suspensions_of_repeat_offenders") == 1

    closed = [c for c in Case.objects.all() if in_period(c.closed_at)]
    assert report.value("cases_decided") == len(closed) == 3
    durations = [(c.closed_at - c.created_at).total_seconds() for c in closed]  # type: ignore[operator]
    assert report.value("median_time_to_decision") == pytest.approx(statistics.median(durations))
    assert report.value("median_time_to_decision") == pytest.approx(5 * 3600)

    appeals = list(Appeal.objects.all())
    assert report.value("appeals_received") == len([a for a in appeals if in_period(a.filed_at)])
    decided = [
        a
        for a in appeals
        if a.state in ("upheld", "overturned", "modified") and in_period(a.decided_at)
    ]
    assert report.value("appeals_decided") == len(decided) == 2
    assert report.value("appeals_by_outcome", "overturned") == 1
    assert report.value("appeals_by_outcome", "upheld") == 1
    assert report.value("appeals_withdrawn") == 1
    took = [(a.decided_at - a.filed_at).total_seconds() for a in decided]  # type: ignore[operator]
    # Two appeals: the mean of the two middle values, 3 h and 7 h 20 min.
    assert report.value("median_time_to_decide_appeal") == pytest.approx(statistics.median(took))
    assert report.value("median_time_to_decide_appeal") == pytest.approx((3 + 7 + 1 / 3) / 2 * 3600)


def test_the_median_is_exact_for_odd_and_even_counts(db: None) -> None:
    accounts = Account.objects.bulk_create(
        Account(external_id=f"m-{i}", name="m", contacts=[]) for i in range(4)
    )
    hours = [1, 10, 2, 20]
    for account, h in zip(accounts, hours, strict=True):
        Case.objects.create(
            account=account,
            summary="s",
            state="dismissed",
            created_at=T0,
            closed_at=T0 + timedelta(hours=h, seconds=1),
        )
    table = Case._meta.db_table

    def median(where: str, params: list[Any]) -> float | None:
        return median_seconds(table, "created_at", "closed_at", where, params)

    three = median("closed_at < %s", [T0 + timedelta(hours=15)])
    assert three == pytest.approx(2 * 3600 + 1)
    four = median("closed_at IS NOT NULL", [])
    assert four == pytest.approx((2 + 10) / 2 * 3600 + 1)
    assert median("closed_at < %s", [T0]) is None


def test_the_command_writes_the_report_as_csv(seeded: None) -> None:
    out = io.StringIO()
    call_command(
        "transparency_report",
        "--from",
        START.isoformat(),
        "--to",
        END.isoformat(),
        stdout=out,
    )
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    report = transparency_report(start=START, end=END)
    assert len(rows) == len(report.rows)
    by_key = {(r["metric"], r["breakdown"]): r for r in rows}
    assert by_key[("decisions_restrictive", "")]["value"] == "3"
    assert by_key[("appeals_by_outcome", "overturned")]["value"] == "1"
    assert float(by_key[("median_time_to_decision", "")]["value"]) == 5 * 3600
    assert by_key[("median_time_to_decision", "")]["unit"] == "seconds"
    assert {r["period_start"] for r in rows} == {f"{START:%Y-%m-%d}"}


def test_bad_periods_are_refused(db: None) -> None:
    with pytest.raises(CommandError, match="after"):
        call_command("transparency_report", "--from", "2026-02-01", "--to", "2026-01-01")
    with pytest.raises(CommandError, match="not a date"):
        call_command("transparency_report", "--from", "last week", "--to", "2026-01-01")
