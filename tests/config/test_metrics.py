"""/metrics: the Prometheus text format with every metric of docs/operations.md, figures that
match the rows, a fixed number of queries whatever the number of cases, no account or user in
a label, and access by bearer token or from loopback only."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Account
from cases.actions import AppealDecide, AppealFile, Suspend
from cases.choices import OPEN_STATES, CaseState, Priority
from cases.metrics import METRIC_QUERIES, metric_samples
from cases.models import Case, CaseEvent, Decision, Reminder
from cases.services import appeal_decide, appeal_file, case_transition
from config.metrics import CACHED
from core.actors import Actor
from tests.bulk import copy_cases
from tests.cases.deadline_helpers import T0, frozen, open_case

ROOT = Path(__file__).resolve().parents[2]
POLICY = "competing-model-development"
METRICS = {
    "tscase_cases_open": "gauge",
    "tscase_case_time_to_triage_seconds": "histogram",
    "tscase_case_time_to_decision_seconds": "histogram",
    "tscase_deadline_breaches": "counter",
    "tscase_appeals": "counter",
    "tscase_outbox_pending": "gauge",
    "tscase_webhook_deliveries": "counter",
    "tscase_partner_followups_overdue": "gauge",
    "tscase_feed_lag_seconds": "gauge",
    "tscase_http_request_duration_seconds": "histogram",
}
ALLOWED_LABELS = {"state", "priority", "outcome", "route", "method", "status", "le"}


@pytest.fixture(autouse=True)
def _fresh(settings: Any) -> Iterator[None]:
    settings.METRICS_TOKEN = ""
    settings.METRICS_CACHE_SECONDS = 0
    CACHED.clear()
    yield
    CACHED.clear()


def scrape(client: Client | None = None, **headers: Any) -> dict[str, Any]:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def value(families: dict[str, Any], sample: str, **labels: str) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == sample and s.labels == labels:
                return float(s.value)
    raise AssertionError(f"no sample {sample} {labels}")


def test_every_metric_is_served_with_no_account_or_user_label(db: None) -> None:
    Client().get("/healthz")
    families = scrape()
    for name, kind in METRICS.items():
        assert name in families, name
        assert families[name].type == kind, name
    labels = {key for f in families.values() for s in f.samples for key in s.labels}
    assert labels <= ALLOWED_LABELS, labels - ALLOWED_LABELS
    # Every open state and priority is there, at 0 too.
    for state in OPEN_STATES:
        for priority in Priority.values:
            assert value(families, "tscase_cases_open", state=state, priority=priority) == 0
    assert (
        value(
            families,
            "tscase_http_request_duration_seconds_count",
            route="/healthz",
            method="GET",
            status="200",
        )
        >= 1
    )


def test_the_figures_are_those_of_the_rows(actors: dict[str, Actor], policies: Any) -> None:
    with frozen(T0) as clock:
        waiting = open_case(actors["analyst"], priority="high")
        case = open_case(actors["analyst"], priority="critical")
        clock.tick(minutes=10)
        case_transition(
            case=case, command=Suspend(reason="r", policies=[POLICY]), actor=actors["lead"]
        )
        decision = Decision.objects.get(case=case, kind="suspend")
        appeal = appeal_file(
            decision=decision,
            command=AppealFile(reason="Wrong", submitted_by="cto@x.test"),
            actor=Actor.system("portal"),
        )
        clock.tick(hours=1)
        appeal_decide(
            appeal=appeal,
            command=AppealDecide(outcome="overturned", reason="Not us"),
            actor=actors["investigator"],
        )
        Reminder.objects.create(case=waiting, deadline=T0, kind="escalation")
        Reminder.objects.create(case=waiting, deadline=T0, kind="escalation-2")
        Reminder.objects.create(case=waiting, deadline=T0, kind="reminder")
    families = scrape()
    assert value(families, "tscase_cases_open", state="flagged", priority="high") == 1
    suspended = Case.objects.get(pk=case.pk).state
    counted = value(families, "tscase_cases_open", state=suspended, priority="critical")
    assert counted == (1 if suspended in OPEN_STATES else 0)
    # Triaged after 10 minutes: within the 15-minute bucket, not the 5-minute one.
    triage = "tscase_case_time_to_triage_seconds"
    assert value(families, f"{triage}_count") == 1
    assert value(families, f"{triage}_bucket", le="300.0") == 0
    assert value(families, f"{triage}_bucket", le="900.0") == 1
    assert value(families, f"{triage}_sum") == pytest.approx(600)
    assert value(families, "tscase_appeals_total", outcome="overturned") == 1
    assert value(families, "tscase_appeals_total", outcome="upheld") == 0
    # One breach: the first escalation of one deadline; its repeat and the reminder are not.
    assert value(families, "tscase_deadline_breaches_total") == 1


def _cases(n: int, start: int = 0) -> None:
    """``n`` cases, a third of them triaged and a third closed, written in bulk."""
    accounts = Account.objects.bulk_create(
        Account(external_id=f"bulk-{i}", name=f"Bulk {i}", contacts=[])
        for i in range(start, start + n)
    )
    states = [CaseState.FLAGGED, CaseState.SUSPENDED, CaseState.DISMISSED]
    cases = Case.objects.bulk_create(
        Case(
            account=a,
            summary="s",
            state=states[i % 3],
            priority=Priority.values[i % 4],
            created_at=T0,
            closed_at=T0 + timedelta(hours=i % 48)
            if states[i % 3] == CaseState.DISMISSED
            else None,
        )
        for i, a in enumerate(accounts)
    )
    CaseEvent.objects.bulk_create(
        CaseEvent(
            case=c,
            seq=1,
            at=T0 + timedelta(minutes=i % 90),
            actor_kind="system",
            actor_label="t",
            action="suspend",
            from_state=CaseState.FLAGGED,
            to_state=CaseState.SUSPENDED,
            hash=f"{i:064x}",
        )
        for i, c in enumerate(cases)
        if c.state != CaseState.FLAGGED
    )


def _queries() -> int:
    with CaptureQueriesContext(connection) as captured:
        samples = metric_samples(now=T0 + timedelta(days=1))
    assert samples.time_to_triage is not None
    return len(captured)


def test_a_scrape_costs_a_fixed_number_of_queries(db: None) -> None:
    _cases(10)
    assert _queries() == METRIC_QUERIES
    _cases(990, start=10)
    assert Case.objects.count() == 1000
    assert _queries() == METRIC_QUERIES
    samples = metric_samples(now=T0)
    assert samples.time_to_triage is not None and samples.time_to_triage.count == 2 * 1000 // 3
    closed = Case.objects.filter(closed_at__isnull=False)
    assert samples.time_to_decision is not None
    assert samples.time_to_decision.count == closed.count()
    within_day = closed.filter(closed_at__lte=T0 + timedelta(days=1)).count()
    assert samples.time_to_decision.cumulative[samples.time_to_decision.buckets.index(86400)] == (
        within_day
    )
    assert sum(samples.cases_open.values()) == Case.objects.filter(state__in=OPEN_STATES).count()


MILLION = 1_000_000


def _million_cases() -> None:
    """A million more accounts and cases: a third flagged, the rest dismissed at a spread of
    times."""
    copy_cases(
        Case.objects.get(account__external_id="bulk-0"),
        MILLION,
        prefix="million-",
        case_sql={
            "state": "CASE WHEN a.id %% 3 = 0 THEN 'flagged' ELSE 'dismissed' END",
            "closed_at": "CASE WHEN a.id %% 3 = 0 THEN NULL "
            "ELSE t.created_at + (a.id %% 48) * interval '1 hour' END",
        },
    )


def test_a_scrape_costs_the_same_queries_at_a_million_cases(
    require_postgres: None, db: None
) -> None:
    _cases(1000)
    assert _queries() == METRIC_QUERIES
    _million_cases()
    assert Case.objects.count() == 1000 + MILLION
    assert _queries() == METRIC_QUERIES
    samples = metric_samples(now=T0 + timedelta(days=1))
    assert sum(samples.cases_open.values()) == Case.objects.filter(state__in=OPEN_STATES).count()
    assert samples.time_to_decision is not None
    assert samples.time_to_decision.count == Case.objects.filter(closed_at__isnull=False).count()


def test_figures_are_kept_for_the_cache_time(db: None, settings: Any) -> None:
    settings.METRICS_CACHE_SECONDS = 60
    scrape()
    with CaptureQueriesContext(connection) as captured:
        scrape()
    assert len(captured) == 0


def test_without_a_token_only_loopback_is_served(db: None) -> None:
    for address in ("127.0.0.1", "127.8.0.1", "::1", "::ffff:127.0.0.1"):
        assert Client(REMOTE_ADDR=address).get("/metrics").status_code == 200, address
    for address in ("10.0.0.1", "192.168.1.2", "2001:db8::1", "", "not-an-ip"):
        with CaptureQueriesContext(connection) as captured:
            response = Client(REMOTE_ADDR=address).get("/metrics")
        assert response.status_code == 403, address
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "metrics_loopback_only"
        assert len(captured) == 0


def test_with_a_token_the_token_is_required(db: None, settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret-metrics"
    for header in (None, "Bearer wrong", "Basic s3cret-metrics", "Bearer ", "s3cret-metrics"):
        extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
        with CaptureQueriesContext(connection) as captured:
            response = Client().get("/metrics", **extra)
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["code"] == "metrics_token_required"
        assert len(captured) == 0
    families = scrape(Client(REMOTE_ADDR="10.0.0.1"), HTTP_AUTHORIZATION="Bearer s3cret-metrics")
    assert "tscase_outbox_pending" in families


def test_only_get_is_allowed(db: None) -> None:
    assert Client().post("/metrics").status_code == 405


def test_the_example_alert_rules_name_served_metrics(db: None) -> None:
    rules = yaml.safe_load((ROOT / "docs/examples/prometheus/tscase-rules.yml").read_text())
    served = set(scrape())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    named = {
        name.removesuffix("_total")
        for expr in exprs
        for name in re.findall(r"\b(tscase_[a-z_]+)", expr)
    }
    assert named and named <= served, named - served
