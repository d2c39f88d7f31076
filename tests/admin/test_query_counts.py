"""Acceptance 2: list pages and the case page run a fixed number of queries, whatever the size."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, Channel, Partner
from cases.actions import Evidence, Investigate, RemediationPlan, Suspend
from cases.models import Case, Incident, IncidentSignal, Signal
from cases.services import case_assign, case_note_add, case_transition, incident_route
from core.actors import Actor
from notifications.models import DeliveryAttempt, Notice, WebhookEndpoint
from tests.admin.conftest import MakeCase, change_url


def queries(client: Any, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def grow_cases(
    make_case: MakeCase, actors: dict[str, Actor], users: dict[str, User], n: int
) -> None:
    states = ["flagged", "suspended", "investigated", "dismissed"]
    for i in range(n):
        case = make_case(states[i % 4], priority=["low", "high"][i % 2], overdue=i % 3 == 0)
        if case.state != "dismissed" and i % 2:
            case_assign(case=case, assignee=users["analyst"], actor=actors["lead"])


def test_case_list_query_count_does_not_grow_with_rows(
    login: Any, make_case: MakeCase, actors: dict[str, Actor], users: dict[str, User]
) -> None:
    client = login("analyst")
    client.get("/admin/cases/case/")
    urls = [
        "/admin/cases/case/",
        "/admin/cases/case/?queue=overdue",
        "/admin/cases/case/?queue=all&q=acct",
    ]

    grow_cases(make_case, actors, users, 3)
    small = [queries(client, url) for url in urls]
    grow_cases(make_case, actors, users, 24)
    large = [queries(client, url) for url in urls]

    assert small == large
    assert max(large) <= 14


def test_account_list_query_count_does_not_grow_with_rows(
    login: Any, make_case: MakeCase, partner: Partner
) -> None:
    client = login("auditor")
    client.get("/admin/accounts/account/")

    def grow(n: int) -> None:
        for _ in range(n):
            case = make_case("suspended")
            Channel.objects.create(account=case.account, partner=partner)
            other = Partner.objects.create(code=f"p{case.pk}", name=f"Partner {case.pk}")
            Channel.objects.create(account=case.account, partner=other)

    grow(2)
    small = queries(client, "/admin/accounts/account/")
    grow(15)
    large = queries(client, "/admin/accounts/account/")

    assert Account.objects.count() >= 17
    assert small == large


def add_signals(case: Case, n: int) -> None:
    now = timezone.now()
    for i in range(n):
        incident = Incident.objects.create(
            account=case.account,
            kind="rate_limit_exceeded",
            severity="medium",
            first_seen=now,
            last_seen=now,
            signal_count=2,
        )
        for j in range(2):
            signal = Signal.objects.create(
                account=case.account,
                kind="rate_limit_exceeded",
                severity="medium",
                occurred_at=now - timedelta(minutes=i),
                source="gateway",
                dedupe_key=f"{case.pk}-{i}-{j}",
                evidence={"rpm": 9000 + i},
            )
            IncidentSignal.objects.create(incident=incident, signal=signal)
        incident_route(incident=incident)


def add_history(case: Case, actors: dict[str, Actor], n: int) -> None:
    for i in range(n):
        case_note_add(case=case, body=f"note {i}", actor=actors["analyst"])
    for notice in Notice.objects.filter(case=case):
        for _ in range(2):
            DeliveryAttempt.objects.create(notice=notice, status_code=500, error="boom")


def test_case_page_query_count_does_not_grow_with_its_history(
    login: Any, make_case: MakeCase, actors: dict[str, Actor], partner: Partner
) -> None:
    WebhookEndpoint.objects.create(
        partner=None, url="https://hooks.example/ts", event_types=["case.transitioned"], secret="s"
    )
    client = login("lead")
    build: Callable[[int], Case]

    def build(n: int) -> Case:
        case = make_case("flagged")
        add_signals(case, n)
        case = case_transition(
            case=case,
            command=Suspend(
                reason="x", policies=["competing-model-development", "rate-limit-evasion"]
            ),
            actor=actors["analyst"],
        )
        case_transition(
            case=case,
            command=Investigate(
                findings="seen",
                violation_confirmed=True,
                evidence=[Evidence(reference=f"logs://{i}") for i in range(n)],
                remediation=RemediationPlan(
                    items=[f"change {i}" for i in range(n)], deadline_days=5
                ),
            ),
            actor=actors["investigator"],
        )
        add_history(case, actors, n)
        return case

    small_case, large_case = build(1), build(12)
    queries(client, change_url(small_case))  # warm the per-process caches (content types)
    small = queries(client, change_url(small_case))
    large = queries(client, change_url(large_case))

    assert Signal.objects.filter(incidents__case=large_case).count() == 24
    assert small == large
