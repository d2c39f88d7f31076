"""Acceptance 5 and the statement of reasons' fields (notices.md)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from accounts.services import api_client_create
from cases.actions import Investigate, RestrictionSpec, Suspend, Terminate
from cases.audit_verify import audit_verify
from cases.choices import signal_kind_wording
from cases.intake import signals_ingest
from cases.models import (
    Case,
    CaseEvent,
    Incident,
    IncidentSignal,
    PolicyClause,
    PolicyVersion,
    Signal,
)
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.models import Notice
from notifications.tasks import notice_send

from ..conftest import make_user

V2 = "Clause competing-model-development, version 2: customers must not do this."
FIELDS = {
    "decision",
    "ground",
    "facts",
    "automated_detection",
    "automated_decision",
    "start",
    "end",
    "scope",
    "account_type",
    "redress",
    "reference",
}


def suspend(account: Account, actor: Actor, **extra: Any) -> Notice:
    case = case_open(account=account, summary="Distillation pattern", actor=actor)
    case_transition(
        case=case,
        command=Suspend(
            **{
                "reason": "Outputs used to train a competing model",
                "policies": ["competing-model-development"],
                **extra,
            }
        ),
        actor=actor,
    )
    return Notice.objects.get(
        case=case, event__in=["suspension", "restriction"], recipient="legal@acme.test"
    )


def test_suspension_email_names_the_clause_text_in_force_even_after_a_new_version(
    account: Account, actors: dict[str, Actor], policies: dict[str, PolicyClause]
) -> None:
    notice = suspend(account, actors["analyst"])
    clause = policies["competing-model-development"]
    PolicyVersion.objects.create(
        policy=clause, version=3, title=clause.title, text="Version 3: entirely new wording."
    )
    PolicyClause.objects.filter(pk=clause.pk).update(current_version=3)

    notice_send(str(notice.pk))

    notice.refresh_from_db()
    cited = notice.statement["ground"]["policies"]
    assert cited == [
        {"code": "competing-model-development", "version": 2, "title": clause.title, "text": V2}
    ]
    sent = next(m for m in mail.outbox if m.to == ["legal@acme.test"])
    assert V2 in sent.body
    assert V2 in sent.alternatives[0][0]
    assert "Version 3" not in sent.body
    assert "version 2" in sent.body


def test_statement_has_every_field_with_its_dsa_name(
    account: Account, actors: dict[str, Actor], policies: Any, settings: Any
) -> None:
    settings.APPEALS_EMAIL = "appeals@tns.example"
    notice = suspend(account, actors["analyst"])
    statement = notice.statement
    case = notice.case
    assert case is not None
    assert FIELDS <= set(statement)
    assert statement["decision"]["account"] == "account_suspended"
    assert statement["end"] == case.review_deadline.isoformat().replace("+00:00", "Z")
    assert statement["automated_decision"] == "not_automated"
    assert statement["automated_detection"] is False
    assert statement["account_type"] == "business"
    assert statement["scope"]["restricted"] == "all API access"
    assert "appeals@tns.example" in statement["redress"]["text"]
    assert "lawyer" in statement["redress"]["text"]
    assert "Outputs used to train a competing model" in statement["facts"]
    dsa = statement["dsa"]
    assert dsa["puid"] == statement["reference"] == notice.statement_reference
    assert dsa["decision_account"] == "DECISION_ACCOUNT_SUSPENDED"
    assert dsa["decision_provision"] == "DECISION_PROVISION_TOTAL_SUSPENSION"
    assert dsa["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert V2 in dsa["incompatible_content_explanation"]
    assert dsa["automated_detection"] == "No"
    assert dsa["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert dsa["account_type"] == "ACCOUNT_TYPE_BUSINESS"
    assert dsa["end_date_account_restriction"] == f"{case.review_deadline:%Y-%m-%d}"
    assert dsa["end_date_service_restriction"] is None
    # The Transparency Database's remaining required fields, as they fit an API provider.
    assert dsa["category"] == "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE"
    assert dsa["content_type"] == ["CONTENT_TYPE_OTHER"]
    assert dsa["content_type_other"] == "API requests and model outputs"
    assert dsa["content_date"] == f"{case.created_at:%Y-%m-%d}"  # no signal: when it opened
    assert dsa["source_type"] == "SOURCE_VOLUNTARY"
    assert dsa["incompatible_content_illegal"] == "No"
    assert dsa["application_date"] == statement["start"][:10]
    assert statement["reference"] in notice.body_text
    assert "appeals@tns.example" in notice.body_html


def test_a_feature_block_is_a_partial_suspension_of_the_service(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    notice = suspend(
        account,
        actors["analyst"],
        restriction=RestrictionSpec(kind="feature_block", features=["fine_tuning"]),
        duration=timedelta(days=7),
    )
    statement = notice.statement
    assert statement["scope"]["restricted"] == "the features fine_tuning"
    assert statement["dsa"]["category"] == "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE"
    assert statement["decision"]["provision"] == "API access suspended in part"
    assert statement["dsa"]["decision_provision"] == "DECISION_PROVISION_PARTIAL_SUSPENSION"
    assert statement["dsa"]["decision_account"] is None
    assert statement["end_basis"] == "restriction"
    assert statement["dsa"]["end_date_service_restriction"] == statement["end"][:10]
    assert statement["dsa"]["end_date_account_restriction"] is None
    assert "fine_tuning" in notice.body_text


def test_automated_signal_behind_the_case_marks_automated_detection(
    account: Account, policies: Any
) -> None:
    now = timezone.now()
    signal = Signal.objects.create(
        account=account,
        kind="distillation_pattern",
        severity="high",
        occurred_at=now - timedelta(hours=1),
        source="classifier",
        dedupe_key="k1",
        automated=True,
    )
    incident = Incident.objects.create(
        account=account,
        kind="distillation_pattern",
        severity="high",
        first_seen=now - timedelta(hours=1),
        last_seen=now,
        signal_count=1,
    )
    IncidentSignal.objects.create(incident=incident, signal=signal)
    system = Actor.system("flag rules")
    case = case_open(account=account, summary="Classifier hit", actor=system, incidents=[incident])
    case_transition(
        case=case,
        command=Suspend(reason="Auto", policies=["competing-model-development"]),
        actor=system,
    )
    statement = Notice.objects.filter(case=case, event="suspension").first().statement  # type: ignore[union-attr]
    assert statement["automated_detection"] is True
    assert statement["dsa"]["automated_detection"] == "Yes"
    assert statement["automated_decision"] == "fully"
    assert statement["facts"].endswith(
        "What we observed:\n- Requests collecting model outputs in a pattern used to train other "
        f"models: 1 occurrence, at {signal.occurred_at:%Y-%m-%d %H:%M} UTC"
    )


def test_each_decision_gets_its_own_reference_shared_by_its_notices(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    first = suspend(account, actors["analyst"])
    assert first.case is not None
    case_transition(
        case=first.case,
        command=Investigate(findings="Confirmed", violation_confirmed=True),
        actor=actors["investigator"],
    )
    case_transition(case=first.case, command=Terminate(rationale="Final"), actor=actors["lead"])
    refs = set(
        Notice.objects.filter(case=first.case, channel="email").values_list(
            "statement_reference", flat=True
        )
    )
    assert len(refs) == 2
    assert all(r.startswith("sor_") for r in refs)
    for ref in refs:
        assert Notice.objects.filter(statement_reference=ref).count() == 2


def test_facts_are_cut_to_5000_characters(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    notice = suspend(account, actors["analyst"], reason="x" * 9000)
    assert len(notice.statement["facts"]) == 5000


def rate_limit_signals(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "account": "acme-ai",
            "kind": "rate_limit_exceeded",
            "severity": "medium",
            "occurred_at": f"2026-11-25T10:{n:02d}:00Z",
            "source": "ratelimiter",
            "dedupe_key": f"rl-{n}",
        }
        for n in range(start, start + count)
    ]


def test_facts_state_what_was_observed_as_the_case_stood_at_the_decision(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    """A flag rule's name and threshold, and an incident summary fixed when it opened, are
    internal: the facts count the case's signals when the decision is taken, in words for the
    customer, and say over what period they were seen."""
    pipeline = Actor.system("pipeline")
    (first, *_) = signals_ingest(batch=rate_limit_signals(0, 12), actor=pipeline)
    signals_ingest(batch=rate_limit_signals(12, 1), actor=pipeline)
    case = Case.objects.get(pk=first["case"])
    incident = case.incidents.get()
    assert incident.signal_count == 13
    assert "10 rate_limit_exceeded in an hour: 12" in incident.summary  # the staff's view
    case_transition(
        case=case,
        command=Suspend(reason="Sustained traffic over the limit", policies=["rate-limit-evasion"]),
        actor=actors["analyst"],
    )
    facts = Notice.objects.get(case=case, recipient="legal@acme.test").statement["facts"]
    assert facts == (
        "Decision: Sustained traffic over the limit\n"
        "What we observed:\n"
        "- Requests above the account's rate limit: 13 occurrences "
        "from 2026-11-25 10:00 UTC to 2026-11-25 10:12 UTC"
    )
    signals_ingest(batch=rate_limit_signals(13, 1), actor=pipeline)  # after the decision
    notice = Notice.objects.get(case=case, recipient="legal@acme.test")
    assert notice.statement["facts"] == facts
    assert notice.statement["dsa"]["decision_facts"] == facts


def test_a_kind_without_customer_wording_is_worded_from_its_code() -> None:
    assert signal_kind_wording("rate_limit_exceeded") == "Requests above the account's rate limit"
    assert signal_kind_wording("unusual_login-burst") == "Unusual login burst"


# --- who decided: a person (admin or session), a person through a staff tool, an automation ----


@pytest.fixture
def tools(db: Any) -> dict[str, str]:
    """Keys of an automation (an API client on its own) and of a staff tool."""
    scopes = ["cases:read", "cases:write", "signals:write"]
    _, robot = api_client_create(name="auto-enforcer", scopes=scopes, role="lead")
    _, tool = api_client_create(name="console", scopes=scopes, role="lead", staff_tool=True)
    return {"automation": robot, "tool": tool}


def api_post(key: str, path: str, body: Any, acting: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"}
    if acting is not None:
        headers["Acting-User"] = acting
    return Client(raise_request_exception=False).post(
        f"/api/v1{path}", body, content_type="application/json", headers=headers
    )


SUSPEND = {"action": "suspend", "reason": "Outputs resold", "policies": ["rate-limit-evasion"]}


def statement_of(case: Case) -> dict[str, Any]:
    return Notice.objects.get(
        case=case, event__in=["suspension", "restriction"], recipient="legal@acme.test"
    ).statement


def test_a_decision_through_a_staff_tool_naming_a_person_is_not_automated(
    account: Account, users: Any, policies: Any, tools: dict[str, str]
) -> None:
    case = case_open(account=account, summary="Report", actor=Actor.for_user(users["analyst"]))
    answer = api_post(tools["tool"], f"/cases/{case.pk}/transitions", SUSPEND, acting="analyst")
    assert answer.status_code == 200, answer.content
    event = CaseEvent.objects.get(case=case, action="suspend")
    assert (event.actor_kind, event.acted_by) == ("api_client", "person_via_tool")
    assert event.actor_user == users["analyst"]
    assert event.actor_client is not None and event.actor_client.name == "console"
    assert event.actor_label == "analyst via api:console"
    statement = statement_of(case)
    assert statement["automated_decision"] == "not_automated"
    assert statement["dsa"]["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert audit_verify(case_id=case.pk)[1] == []


def test_a_decision_by_an_api_client_on_its_own_is_fully_automated(
    account: Account, users: Any, policies: Any, tools: dict[str, str]
) -> None:
    case = case_open(account=account, summary="Report", actor=Actor.for_user(users["analyst"]))
    answer = api_post(tools["automation"], f"/cases/{case.pk}/transitions", SUSPEND)
    assert answer.status_code == 200, answer.content
    event = CaseEvent.objects.get(case=case, action="suspend")
    assert (event.actor_kind, event.acted_by) == ("api_client", "automation")
    statement = statement_of(case)
    assert statement["automated_decision"] == "fully"
    assert statement["dsa"]["automated_decision"] == "AUTOMATED_DECISION_FULLY"


def test_a_decision_in_the_admin_is_recorded_as_a_persons(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    notice = suspend(account, actors["analyst"])
    event = CaseEvent.objects.get(case=notice.case, action="suspend")
    assert (event.actor_kind, event.acted_by) == ("staff", "person")
    assert notice.statement["automated_decision"] == "not_automated"


def test_detection_is_automated_when_an_automation_posted_the_signals_or_filed_the_report(
    account: Account, policies: Any, tools: dict[str, str]
) -> None:
    def batch(tag: str) -> dict[str, Any]:
        return {
            "signals": [
                {
                    "account": f"acct-{tag}",
                    "kind": "key_shared",
                    "severity": "critical",
                    "occurred_at": "2026-11-25T10:00:00Z",
                    "source": "console",
                    "dedupe_key": f"ks-{tag}",
                }
            ]
        }

    by_person = api_post(tools["tool"], "/signals", batch("person"), acting="analyst-2")
    assert by_person.status_code == 403  # no such staff member yet
    make_user("analyst", "analyst-2")
    by_person = api_post(tools["tool"], "/signals", batch("person"), acting="analyst-2")
    by_robot = api_post(tools["automation"], "/signals", batch("robot"))
    assert (by_person.status_code, by_robot.status_code) == (202, 202)
    assert Signal.objects.get(dedupe_key="ks-person").automated is False
    assert Signal.objects.get(dedupe_key="ks-robot").automated is True

    opened = {}
    for who, acting in (("automation", None), ("tool", "analyst-2")):
        external = f"hand-{who}"
        Account.objects.create(external_id=external, contacts=["legal@acme.test"])
        body = {"account": external, "summary": "Press report", "priority": "high"}
        answer = api_post(tools[who], "/cases", body, acting=acting)
        assert answer.status_code == 201, answer.content
        opened[who] = Case.objects.get(pk=answer.json()["id"])
        case_transition(
            case=opened[who],
            command=Suspend(reason="Outputs resold", policies=["rate-limit-evasion"]),
            actor=Actor.system("test"),
        )
    assert statement_of(opened["automation"])["automated_detection"] is True
    assert statement_of(opened["tool"])["automated_detection"] is False
