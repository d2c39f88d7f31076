"""Acceptance 1: each change records exactly the notices of notices.md, to exactly the right
recipients, and none other."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core import mail

from accounts.models import Account, Partner
from cases.actions import Dismiss, Investigate, Remediate, RemediationPlan, Suspend, Terminate
from cases.intake import signals_ingest
from cases.models import Case
from cases.services import (
    case_assign,
    case_open,
    case_priority_set,
    case_transition,
    plan_item_verify,
)
from core.actors import Actor
from core.errors import DomainError
from notifications.models import Notice, WebhookEndpoint
from notifications.tasks import notice_send

from .conftest import make_endpoint

LEGAL, CTO = "legal@acme.test", "cto@acme.test"
CLOUDCO_URL = "https://hooks.cloudco.example/tns"
OTHER_URL = "https://hooks.other.example/tns"
INTERNAL_URL = "https://siem.internal.example/tns"


@pytest.fixture
def endpoints(db: Any, partner: Partner, settings: Any) -> dict[str, WebhookEndpoint]:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the hosts above are never contacted here
    other = Partner.objects.create(code="othercloud", name="Other Cloud")
    return {
        "cloudco": make_endpoint(CLOUDCO_URL, partner)[0],
        "other": make_endpoint(OTHER_URL, other)[0],
        "internal": make_endpoint(INTERNAL_URL, None, ["case.transitioned"])[0],
    }


def sent(case: Case, since: set[Any] | None = None) -> set[tuple[str, str, str]]:
    rows = Notice.objects.filter(case=case)
    if since is not None:
        rows = rows.exclude(pk__in=since)
    return {(n.channel, n.event, n.recipient) for n in rows}


def ids(case: Case) -> set[Any]:
    return set(Notice.objects.filter(case=case).values_list("pk", flat=True))


def transitioned() -> set[tuple[str, str, str]]:
    return {
        ("webhook", "case.transitioned", CLOUDCO_URL),
        ("webhook", "case.transitioned", INTERNAL_URL),
    }


def account_mail(kind: str) -> set[tuple[str, str, str]]:
    return {("email", kind, LEGAL), ("email", kind, CTO)}


def suspended(case: Case, actors: dict[str, Actor]) -> Case:
    return case_transition(
        case=case,
        command=Suspend(reason="Distillation traffic", policies=["competing-model-development"]),
        actor=actors["analyst"],
    )


def investigated(case: Case, actors: dict[str, Actor], plan: bool = True) -> Case:
    remediation = (
        RemediationPlan(items=["Delete the distilled model", "Rotate API keys"], deadline_days=14)
        if plan
        else None
    )
    command = Investigate(
        findings="Confirmed distillation.", violation_confirmed=True, remediation=remediation
    )
    return case_transition(case=case, command=command, actor=actors["investigator"])


def opened(account: Account, actors: dict[str, Actor], priority: str = "medium") -> Case:
    return case_open(
        account=account, summary="Suspicious traffic", actor=actors["analyst"], priority=priority
    )


def test_suspend_sends_statement_to_contacts_and_webhook_to_the_accounts_partner_only(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    case = opened(account, actors)
    before = ids(case)
    suspended(case, actors)
    assert sent(case, before) == (
        account_mail("suspension")
        | {("webhook", "enforcement.suspended", CLOUDCO_URL)}
        | transitioned()
    )
    assert Notice.objects.filter(recipient=OTHER_URL).exists() is False
    assert Notice.objects.filter(channel="staff").exists() is False


def test_investigate_with_a_plan_sends_the_plan_to_the_contacts_and_no_enforcement_webhook(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    case = suspended(opened(account, actors), actors)
    before = ids(case)
    investigated(case, actors)
    assert sent(case, before) == account_mail("remediation_required") | transitioned()
    notice = Notice.objects.get(case=case, event="remediation_required", recipient=LEGAL)
    assert "Delete the distilled model" in notice.body_text
    assert "Rotate API keys" in notice.body_html
    assert notice.payload["deadline"]


def test_investigate_without_a_plan_tells_the_account_nothing(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    case = suspended(opened(account, actors), actors)
    before = ids(case)
    investigated(case, actors, plan=False)
    assert sent(case, before) == transitioned()


def test_remediate_sends_reinstatement_and_enforcement_reinstated(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    case = investigated(suspended(opened(account, actors), actors), actors)
    for item in case.remediation_plan.items.all():
        plan_item_verify(item=item, actor=actors["investigator"])
    before = ids(case)
    case_transition(
        case=case,
        command=Remediate(verification_note="Model deleted, keys rotated."),
        actor=actors["investigator"],
    )
    assert sent(case, before) == (
        account_mail("reinstatement")
        | {("webhook", "enforcement.reinstated", CLOUDCO_URL)}
        | transitioned()
    )
    notice = Notice.objects.get(case=case, event="reinstatement", recipient=CTO)
    assert notice.payload["no_violation"] is False
    assert "no violation" not in notice.body_text


def test_terminate_sends_termination_statement_and_enforcement_terminated(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    case = investigated(suspended(opened(account, actors), actors), actors, plan=False)
    before = ids(case)
    case_transition(case=case, command=Terminate(rationale="Repeated abuse."), actor=actors["lead"])
    assert sent(case, before) == (
        account_mail("termination")
        | {("webhook", "enforcement.terminated", CLOUDCO_URL)}
        | transitioned()
    )
    notice = Notice.objects.get(case=case, event="termination", recipient=LEGAL)
    assert notice.statement["decision"]["account"] == "account_terminated"
    assert notice.statement["end"] is None


def test_dismiss_from_flagged_only_announces_the_transition(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    case = opened(account, actors)
    before = ids(case)
    case_transition(case=case, command=Dismiss(reason="False positive"), actor=actors["analyst"])
    assert sent(case, before) == transitioned()


def test_dismiss_from_investigated_reinstates_with_no_violation_found(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    case = suspended(opened(account, actors), actors)
    case = case_transition(
        case=case,
        command=Investigate(findings="Traffic was a benchmark.", violation_confirmed=False),
        actor=actors["investigator"],
    )
    before = ids(case)
    case_transition(case=case, command=Dismiss(reason="No breach."), actor=actors["investigator"])
    assert sent(case, before) == (
        account_mail("reinstatement")
        | {("webhook", "enforcement.reinstated", CLOUDCO_URL)}
        | transitioned()
    )
    notice = Notice.objects.get(case=case, event="reinstatement", recipient=LEGAL)
    assert notice.payload["no_violation"] is True
    assert "no violation" in notice.body_text


def test_second_case_that_keeps_the_account_terminated_announces_no_enforcement_change(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    first = investigated(suspended(opened(account, actors), actors), actors, plan=False)
    case_transition(case=first, command=Terminate(rationale="Abuse."), actor=actors["lead"])
    second = opened(account, actors)
    before = ids(second)
    suspended(second, actors)
    assert sent(second, before) == transitioned()


def test_partner_hears_nothing_of_accounts_without_a_channel_through_it(
    actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    direct = Account.objects.create(external_id="solo", contacts=["ops@solo.test"])
    case = suspended(opened(direct, actors), actors)
    assert {n.recipient for n in Notice.objects.filter(case=case, channel="webhook")} == {
        INTERNAL_URL
    }


def test_unsubscribed_endpoint_gets_nothing(
    account: Account, partner: Partner, actors: dict[str, Actor], policies: Any, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    make_endpoint(CLOUDCO_URL, partner, ["enforcement.terminated"])
    case = suspended(opened(account, actors), actors)
    assert Notice.objects.filter(case=case, channel="webhook").exists() is False


def test_disabled_endpoint_gets_nothing(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    WebhookEndpoint.objects.filter(pk=endpoints["cloudco"].pk).update(active=False)
    case = suspended(opened(account, actors), actors)
    assert Notice.objects.filter(case=case, recipient=CLOUDCO_URL).exists() is False


def test_high_case_opened_tells_the_leads_only(
    account: Account, users: Any, actors: dict[str, Actor], endpoints: Any
) -> None:
    case = opened(account, actors, priority="high")
    assert sent(case) == {("staff", "case.opened", users["lead"].email)}
    notice = Notice.objects.get(case=case)
    assert f"/admin/cases/case/{case.pk}/change/" in notice.body_text
    assert notice.subject.startswith("[HIGH] New case")


def test_medium_case_opened_tells_nobody(
    account: Account, actors: dict[str, Actor], endpoints: Any
) -> None:
    case = opened(account, actors, priority="medium")
    assert Notice.objects.filter(case=case).exists() is False


def test_assignment_tells_the_assignee_only(
    account: Account, users: Any, actors: dict[str, Actor], endpoints: Any
) -> None:
    case = opened(account, actors)
    case_assign(case=case, assignee=users["investigator"], actor=actors["lead"])
    assert sent(case) == {("staff", "case.assigned", users["investigator"].email)}


def test_taking_a_case_tells_nobody(
    account: Account, users: Any, actors: dict[str, Actor], endpoints: Any
) -> None:
    case = opened(account, actors)
    case_assign(case=case, assignee=users["analyst"], actor=actors["analyst"])
    case.refresh_from_db()
    assert case.assignee_id == users["analyst"].pk
    assert Notice.objects.filter(case=case).exists() is False


def test_rejected_transition_records_no_notices(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    case = opened(account, actors)
    with pytest.raises(Exception, match="remediate"):
        case_transition(case=case, command=Remediate(verification_note="x"), actor=actors["lead"])
    assert Notice.objects.filter(case=case).exists() is False


def test_account_emails_go_out_as_text_and_html_to_each_contact(
    account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    case = suspended(opened(account, actors), actors)
    for notice in Notice.objects.filter(case=case):
        notice_send(str(notice.pk))
    assert sorted(m.to[0] for m in mail.outbox) == sorted([CTO, LEGAL])
    message = mail.outbox[0]
    assert message.subject.startswith("Your API access is suspended")
    assert message.alternatives[0][1] == "text/html"
    assert "STATEMENT OF REASONS" in message.body
    assert Notice.objects.filter(case=case, status="delivered").count() == 2


def test_case_transitioned_payload_names_the_actor_kind_never_the_person(
    account: Account, actors: dict[str, Actor], policies: Any, endpoints: Any
) -> None:
    case = suspended(opened(account, actors), actors)
    notice = Notice.objects.get(case=case, event="case.transitioned", recipient=INTERNAL_URL)
    assert notice.payload["type"] == "case.transitioned"
    data = notice.payload["data"]
    assert set(data) == {"case", "account", "action", "from", "to", "actor_kind", "at"}
    assert (data["action"], data["from"], data["to"], data["actor_kind"]) == (
        "suspend",
        "flagged",
        "suspended",
        "staff",
    )
    assert "analyst" not in notice.body_text
    assert json.loads(notice.body_text) == notice.payload


def signal(n: int, kind: str = "rate_limit_exceeded", severity: str = "medium") -> dict[str, Any]:
    return {
        "account": "acme-ai",
        "kind": kind,
        "severity": severity,
        "occurred_at": f"2026-11-25T10:{n:02d}:00Z",
        "source": "pipeline",
        "dedupe_key": f"sig-{n}",
    }


def raised(case: Case) -> list[tuple[str, str, str]]:
    return [
        (n.recipient, n.payload["previous_priority"], n.payload["priority"])
        for n in Notice.objects.filter(case=case, event="case.priority_raised").order_by(
            "created_at"
        )
    ]


def test_a_critical_incident_joining_a_medium_case_tells_the_leads_once(
    account: Account, users: Any, endpoints: Any
) -> None:
    pipeline = Actor.system("pipeline")
    (first, *_) = signals_ingest(batch=[signal(n) for n in range(10)], actor=pipeline)
    case = Case.objects.get(pk=first["case"])
    assert case.priority == "medium"
    assert Notice.objects.filter(case=case).exists() is False

    signals_ingest(batch=[signal(20, "key_shared", "critical")], actor=pipeline)
    assert Case.objects.get(pk=case.pk).priority == "critical"
    lead = users["lead"].email
    assert sent(case) == {("staff", "case.priority_raised", lead)}
    assert raised(case) == [(lead, "medium", "critical")]
    notice = Notice.objects.get(case=case)
    assert notice.subject.startswith(f"[CRITICAL] Case {case.pk} raised from medium")
    assert "key_shared incident joined it" in notice.body_text
    assert f"/admin/cases/case/{case.pk}/change/" in notice.body_html

    # Another critical signal, and more of the medium ones: no rise, so no new notice.
    signals_ingest(batch=[signal(21, "key_shared", "critical"), signal(11)], actor=pipeline)
    assert raised(case) == [(lead, "medium", "critical")]


def test_each_rise_of_priority_to_high_or_critical_tells_the_leads_once(
    account: Account, users: Any, actors: dict[str, Actor], endpoints: Any
) -> None:
    case = opened(account, actors, priority="low")
    for priority in ("medium", "high", "high", "medium", "high", "critical", "low"):
        case_priority_set(case=case, priority=priority, actor=actors["lead"], reason="triage")
    lead = users["lead"].email
    assert raised(case) == [
        (lead, "medium", "high"),
        (lead, "medium", "high"),
        (lead, "high", "critical"),
    ]
    assert sent(case) == {("staff", "case.priority_raised", lead)}
    assert "lead raised its priority" in Notice.objects.filter(case=case).first().body_text  # type: ignore[union-attr]


def test_a_refused_priority_change_tells_nobody(
    account: Account, actors: dict[str, Actor], endpoints: Any
) -> None:
    case = opened(account, actors)
    with pytest.raises(DomainError):
        case_priority_set(case=case, priority="critical", actor=actors["analyst"])
    assert Case.objects.get(pk=case.pk).priority == "medium"
    assert Notice.objects.filter(case=case).exists() is False
