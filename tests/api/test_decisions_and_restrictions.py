"""Decisions and restrictions (decisions.md): what each restriction kind looks like to the
gateway (lookup, check, feed), to partners (webhook) and to the account (notice), from the moment
it is imposed until it expires or is lifted; and the three stories that were wrong before."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Account, Partner
from cases.actions import Dismiss, Investigate, Remediate, RestrictionSpec, Terminate
from cases.models import Case, Decision, EnforcementChange, Restriction
from cases.services import case_open, case_transition, restrictions_expire
from core.actors import Actor
from notifications.models import Notice

from ..notifications.conftest import make_endpoint
from .conftest import ApiCaller

HOOK = "https://hooks.cloudco.example/tns"
SUSPEND = {
    "reason": "Outputs used to train a competing model",
    "policies": ["competing-model-development"],
}

KINDS: list[tuple[dict[str, Any], str, str]] = [
    ({"kind": "suspension"}, "suspended", "suspend"),
    ({"kind": "rate_limit", "requests_per_minute": 10}, "restricted", "restrict"),
    (
        {"kind": "rate_limit", "requests_per_minute": 10, "tokens_per_minute": 20000},
        "restricted",
        "restrict",
    ),
    ({"kind": "model_block", "models": ["gpt-x", "gpt-y"]}, "restricted", "restrict"),
    ({"kind": "feature_block", "features": ["fine_tuning"]}, "restricted", "restrict"),
]


@pytest.fixture
def hook(db: Any, partner: Partner, settings: Any) -> Any:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # never contacted: notices are only recorded
    return make_endpoint(HOOK, partner)[0]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], datetime]:
    """Move the service's clock forward by ``delta`` from the real now."""

    def move(delta: timedelta) -> datetime:
        later = datetime.now(tz=timezone.get_current_timezone()) + delta
        monkeypatch.setattr(timezone, "now", lambda: later)
        return later

    return move


def lookup(api: ApiCaller, external_id: str = "acme-ai") -> dict[str, Any]:
    response = api.get(f"/enforcement/{external_id}")
    assert response.status_code == 200, response.content
    return dict(response.json())


def check(api: ApiCaller, external_id: str = "acme-ai") -> dict[str, Any]:
    response = api.post("/enforcement/check", {"accounts": [external_id]})
    assert response.status_code == 200, response.content
    return dict(response.json()["results"][0])


def feed_last(api: ApiCaller) -> dict[str, Any]:
    # From just before the last change: a test that moves its clock on past the feed's
    # retention would be told to start again from the snapshot if it read from the start.
    after = EnforcementChange.objects.latest("seq").seq - 1
    response = api.get("/enforcement/changes", after=after, limit=1000)
    assert response.status_code == 200
    return dict(response.json()["results"][-1])


def webhook_last(account: Account) -> dict[str, Any]:
    notice = (
        Notice.objects.filter(account=account, channel="webhook")
        .exclude(event="case.transitioned")
        .order_by("created_at")
        .last()
    )
    assert notice is not None
    return dict(notice.payload)


def email_last(account: Account) -> Notice:
    notice = Notice.objects.filter(account=account, channel="email").order_by("created_at").last()
    assert notice is not None
    return notice


def suspend_api(api: ApiCaller, case: Case, **extra: Any) -> Any:
    return api.post(f"/cases/{case.pk}/transitions", {"action": "suspend", **SUSPEND, **extra})


def open_case(account: Account, actors: dict[str, Actor]) -> Case:
    return case_open(account=account, summary="Distillation pattern", actor=actors["analyst"])


@pytest.mark.parametrize(("restriction", "status", "kind"), KINDS)
def test_each_kind_from_imposed_to_expired(
    api: ApiCaller,
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
    hook: Any,
    clock: Callable[[timedelta], datetime],
    restriction: dict[str, Any],
    status: str,
    kind: str,
) -> None:
    case = open_case(account, actors)
    response = suspend_api(api, case, restriction=restriction, duration="PT1H")
    assert response.status_code == 200, response.content
    decision = Decision.objects.get(case=case)
    assert decision.kind == kind

    # In force: everyone reads the same restriction, with its end and the decision.
    now = lookup(api)
    assert now["status"] == status
    [shown] = now["restrictions"]
    assert shown["kind"] == restriction["kind"]
    assert shown["requests_per_minute"] == restriction.get("requests_per_minute")
    assert shown["tokens_per_minute"] == restriction.get("tokens_per_minute")
    assert shown["models"] == restriction.get("models", [])
    assert shown["features"] == restriction.get("features", [])
    assert shown["decision"] == decision.reference
    assert shown["ends_at"] is not None and now["until"] == shown["ends_at"]
    checked = check(api)
    assert (checked["status"], checked["restrictions"]) == (status, now["restrictions"])
    change = feed_last(api)
    assert (change["status"], change["restrictions"]) == (status, now["restrictions"])
    assert change["decision"] == decision.reference
    payload = webhook_last(account)
    assert payload["type"] == f"enforcement.{status}"
    assert payload["data"]["restrictions"] == now["restrictions"]
    assert payload["data"]["decision"] == decision.reference
    email = email_last(account)
    assert email.statement_reference == decision.reference
    assert email.statement == decision.statement

    # Past its end, never reported in force, even before the job ran.
    clock(timedelta(hours=1, seconds=1))
    later = lookup(api)
    assert (later["status"], later["restrictions"], later["until"]) == ("active", [], None)
    assert later["since"] == shown["ends_at"]
    assert check(api)["status"] == "active"

    # The job records it once: a decision, a change, a notice, a webhook.
    changes = EnforcementChange.objects.count()
    assert restrictions_expire() == 1
    assert restrictions_expire() == 0
    expired = Decision.objects.get(case=case, kind="restriction_expired")
    assert Restriction.objects.get(decision=decision).ended_by == expired
    assert EnforcementChange.objects.count() == changes + 1
    change = feed_last(api)
    assert (change["status"], change["previous_status"]) == ("active", status)
    assert change["decision"] == expired.reference
    payload = webhook_last(account)
    assert payload["type"] == "enforcement.reinstated"
    assert payload["data"]["decision"] == expired.reference
    email = email_last(account)
    assert (email.event, email.statement_reference) == ("reinstatement", expired.reference)
    assert "reached its end date" in email.body_text
    assert lookup(api)["status"] == "active"


@pytest.mark.parametrize(("restriction", "status", "kind"), KINDS)
def test_each_kind_lifted_by_remediation(
    api: ApiCaller,
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
    hook: Any,
    restriction: dict[str, Any],
    status: str,
    kind: str,
) -> None:
    case = open_case(account, actors)
    assert suspend_api(api, case, restriction=restriction).status_code == 200
    assert lookup(api)["until"] is None  # open-ended: until a decision ends it
    case_transition(
        case=case,
        command=Investigate(findings="Confirmed", violation_confirmed=True),
        actor=actors["investigator"],
    )
    assert lookup(api)["status"] == status
    case_transition(
        case=case,
        command=Remediate(verification_note="Changes verified"),
        actor=actors["investigator"],
    )
    assert lookup(api)["status"] == "active"
    assert (check(api)["status"], check(api)["restrictions"]) == ("active", [])
    reinstated = Decision.objects.get(case=case, kind="reinstate")
    assert reinstated.lifted == [Restriction.objects.get(case=case).pk]
    change = feed_last(api)
    assert (change["status"], change["previous_status"]) == ("active", status)
    assert (change["decision"], change["restrictions"]) == (reinstated.reference, [])
    payload = webhook_last(account)
    assert payload["type"] == "enforcement.reinstated"
    assert payload["data"]["decision"] == reinstated.reference
    email = email_last(account)
    assert (email.event, email.statement_reference) == ("reinstatement", reinstated.reference)


def test_a_probation_keeps_a_rate_limit_after_remediation(
    api: ApiCaller, account: Account, actors: dict[str, Actor], policies: Any, hook: Any
) -> None:
    case = open_case(account, actors)
    suspend_api(api, case)
    case_transition(
        case=case,
        command=Investigate(findings="Confirmed", violation_confirmed=True),
        actor=actors["investigator"],
    )
    case_transition(
        case=case,
        command=Remediate(
            verification_note="Changes verified",
            restriction=RestrictionSpec(kind="rate_limit", requests_per_minute=100),
            duration=timedelta(days=30),
        ),
        actor=actors["investigator"],
    )
    now = lookup(api)
    assert now["status"] == "restricted"
    assert [r["kind"] for r in now["restrictions"]] == ["rate_limit"]
    assert now["until"] is not None
    assert webhook_last(account)["type"] == "enforcement.restricted"


def test_story_a_10_rpm_limit_is_restricted_not_suspended(
    api: ApiCaller, account: Account, actors: dict[str, Actor], policies: Any, hook: Any
) -> None:
    case = open_case(account, actors)
    response = suspend_api(
        api, case, restriction={"kind": "rate_limit", "requests_per_minute": 10}, duration="P7D"
    )
    assert response.status_code == 200, response.content
    seen = lookup(api)
    assert seen["status"] == "restricted"
    assert seen["restrictions"][0]["requests_per_minute"] == 10
    payload = webhook_last(account)
    assert payload["data"]["status"] == "restricted"
    statement = Decision.objects.get(case=case).statement
    assert statement["scope"]["restricted"] == "requests above 10 requests per minute"
    assert statement["dsa"]["decision_provision"] == "DECISION_PROVISION_PARTIAL_SUSPENSION"
    assert statement["dsa"]["decision_account"] is None
    assert statement["dsa"]["end_date_service_restriction"] == seen["until"][:10]
    assert statement["end"] == seen["until"]


def test_story_terminating_after_no_violation_needs_a_leads_override(
    api: ApiCaller,
    make_caller: Callable[..., ApiCaller],
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
) -> None:
    case = open_case(account, actors)
    suspend_api(api, case)
    case_transition(
        case=case,
        command=Investigate(findings="No violation", violation_confirmed=False),
        actor=actors["investigator"],
    )
    path = f"/cases/{case.pk}/transitions"
    refused = api.post(path, {"action": "terminate", "rationale": "Terminate anyway"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "violation_not_confirmed"
    assert not Decision.objects.filter(case=case, kind="terminate").exists()
    assert lookup(api)["status"] == "suspended"

    proposed = api.post(
        path,
        {
            "action": "terminate",
            "rationale": "Repeated breach on other accounts",
            "override_reason": "Evidence from the linked accounts outweighs the finding",
        },
    )
    assert proposed.status_code == 202, proposed.content
    assert lookup(api)["status"] == "suspended"
    second = make_caller("cases:write", "cases:read", role="lead", name="second-lead")
    done = second.post(f"/approvals/{proposed.json()['approval']['id']}/approve", {})
    assert done.status_code == 200, done.content
    decision = Decision.objects.get(case=case, kind="terminate")
    assert decision.override_reason.startswith("Evidence from the linked")
    assert "No violation" not in decision.statement["facts"]
    assert decision.statement["dsa"]["decision_account"] == "DECISION_ACCOUNT_TERMINATED"
    assert decision.statement["dsa"]["decision_provision"] == "DECISION_PROVISION_TOTAL_TERMINATION"
    assert lookup(api)["status"] == "terminated"


def test_story_a_contactless_account_still_has_its_decision_and_statement(
    api: ApiCaller, actors: dict[str, Actor], policies: Any
) -> None:
    account = Account.objects.create(external_id="from-signals")
    case = open_case(account, actors)
    assert suspend_api(api, case).status_code == 200
    decision = Decision.objects.get(case=case)
    assert decision.statement["reference"] == decision.reference
    assert decision.statement["dsa"]["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert not Notice.objects.filter(account=account, channel="email").exists()
    response = api.get(f"/decisions/{decision.reference}")
    assert response.status_code == 200, response.content
    assert response.json()["statement"]["reference"] == decision.reference
    assert response.json()["delivered_to"] == []


def test_a_dismissal_may_warn_without_restricting(
    api: ApiCaller, account: Account, actors: dict[str, Actor], policies: Any, hook: Any
) -> None:
    case = open_case(account, actors)
    case_transition(
        case=case,
        command=Dismiss(reason="Below the threshold", warning="Keep under your rate limit."),
        actor=actors["analyst"],
    )
    warn = Decision.objects.get(case=case)
    assert warn.kind == "warn"
    assert not warn.restrictions.exists()
    assert warn.statement["redress"] is None  # a warning cannot be appealed
    emails = Notice.objects.filter(account=account, channel="email", event="warning")
    assert {e.recipient for e in emails} == set(account.contacts)
    assert {e.statement_reference for e in emails} == {warn.reference}
    assert lookup(api)["status"] == "active"
    assert not EnforcementChange.objects.filter(account=account).exists()


def test_case_decisions_are_listed_oldest_first(
    api: ApiCaller, account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    case = open_case(account, actors)
    suspend_api(api, case, restriction={"kind": "model_block", "models": ["gpt-x"]})
    case_transition(
        case=case,
        command=Investigate(findings="Confirmed", violation_confirmed=True),
        actor=actors["investigator"],
    )
    case_transition(case=case, command=Terminate(rationale="Serious"), actor=actors["lead"])
    response = api.get(f"/cases/{case.pk}/decisions")
    assert response.status_code == 200, response.content
    kinds = [d["kind"] for d in response.json()["results"]]
    assert kinds == ["restrict", "terminate"]
    first = response.json()["results"][0]
    assert first["restrictions"][0]["ended_by"] == response.json()["results"][1]["reference"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"restriction": {"kind": "rate_limit"}}, "restriction.requests_per_minute"),
        ({"restriction": {"kind": "model_block"}}, "restriction.models"),
        ({"restriction": {"kind": "termination"}}, "restriction.kind"),
        ({"restriction": {"kind": "teleport"}}, "restriction.kind"),
        ({"restriction": {"kind": "suspension", "models": ["x"]}}, "restriction.models"),
        ({"duration": "a week"}, "duration"),
        ({"duration": "-P1D"}, "duration"),
        ({"duration": "P1D", "ends_at": "2030-01-01T00:00:00Z"}, "duration"),
        ({"ends_at": "2001-01-01T00:00:00Z"}, "ends_at"),
    ],
)
def test_bad_restrictions_are_refused_and_change_nothing(
    api: ApiCaller,
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
    body: dict[str, Any],
    field: str,
) -> None:
    case = open_case(account, actors)
    response = suspend_api(api, case, **body)
    assert 400 <= response.status_code < 500, response.content
    assert field in response.content.decode()
    case.refresh_from_db()
    assert case.state == "flagged"
    assert not Decision.objects.exists() and not Restriction.objects.exists()


def test_the_lookup_stays_one_round_trip_with_restrictions(
    api: ApiCaller,
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
    django_assert_num_queries: Any,
) -> None:
    case = open_case(account, actors)
    suspend_api(api, case, restriction={"kind": "rate_limit", "requests_per_minute": 5})
    client = Client()
    with django_assert_num_queries(1):
        response = client.get(
            "/api/v1/enforcement/acme-ai", headers={"Authorization": api.headers["Authorization"]}
        )
    assert response.json()["restrictions"][0]["requests_per_minute"] == 5


def test_leads_hear_of_a_statement_that_reached_no_one_in_their_digest(
    api: ApiCaller, actors: dict[str, Actor], users: Any, policies: Any
) -> None:
    from cases.deadlines import digests_send

    account = Account.objects.create(external_id="no-contact")
    case = open_case(account, actors)
    assert suspend_api(api, case).status_code == 200
    decision = Decision.objects.get(case=case)

    assert digests_send() >= 1
    digest = Notice.objects.get(event="digest", recipient=users["lead"].email)
    assert decision.reference in digest.payload["unsent"]
    assert decision.reference in digest.body_text
    analyst_digest = Notice.objects.filter(event="digest", recipient=users["analyst"].email)
    assert not analyst_digest.exists() or decision.reference not in analyst_digest[0].body_text


def test_when_one_of_two_restrictions_ends_the_other_still_stands_and_is_named(
    api: ApiCaller,
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
    hook: Any,
    clock: Callable[[timedelta], datetime],
) -> None:
    first = open_case(account, actors)
    suspend_api(api, first)
    case_transition(
        case=first,
        command=Investigate(findings="Confirmed", violation_confirmed=True),
        actor=actors["investigator"],
    )
    case_transition(
        case=first,
        command=Remediate(
            verification_note="Verified",
            restriction=RestrictionSpec(kind="rate_limit", requests_per_minute=100),
            duration=timedelta(hours=1),
        ),
        actor=actors["investigator"],
    )
    second = case_open(account=account, summary="Model misuse", actor=actors["analyst"])
    response = api.post(
        f"/cases/{second.pk}/transitions",
        {
            "action": "suspend",
            "reason": "Evading the limit with another model",
            "policies": ["rate-limit-evasion"],
            "restriction": {"kind": "model_block", "models": ["gpt-x"]},
        },
    )
    assert response.status_code == 200, response.content
    both = lookup(api)
    assert [r["kind"] for r in both["restrictions"]] == ["model_block", "rate_limit"]
    assert both["policies"] == ["rate-limit-evasion"]

    clock(timedelta(hours=2))
    assert restrictions_expire() == 1
    after = lookup(api)
    assert after["status"] == "restricted"
    assert [r["kind"] for r in after["restrictions"]] == ["model_block"]
    assert after["policies"] == ["rate-limit-evasion"]
    email = email_last(account)
    assert email.event == "reinstatement"
    assert "Other restrictions stay in force" in email.body_text
    payload = webhook_last(account)
    assert payload["type"] == "enforcement.restricted"
    assert [r["kind"] for r in payload["data"]["restrictions"]] == ["model_block"]
