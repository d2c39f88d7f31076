"""Appeals (decisions.md, Appeals; DSA Art. 20) through the API: filed by the customer portal
with ``appeals:write``, reviewed and decided by someone who took no part in the decision, with
outcomes that the lookup, the feed, the partners and the account all follow; and the refusals,
each of which stores nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.models import Account
from accounts.services import api_client_create
from cases.actions import Dismiss, Investigate, Suspend, Terminate
from cases.models import Appeal, Case, CaseEvent, Decision, EnforcementChange, Restriction
from cases.services import (
    approval_approve,
    approval_propose,
    case_open,
    case_transition,
    restrictions_expire,
)
from core.actors import Actor
from notifications.models import Notice

from .conftest import ApiCaller, problem
from .test_decisions_and_restrictions import (  # noqa: F401 -- fixtures
    clock,
    email_last,
    feed_last,
    hook,
    lookup,
    webhook_last,
)

POLICY = "competing-model-development"
APPEAL = {
    "reason": "The traffic was our evaluation harness, not distillation.",
    "submitted_by": "cto@acme.test",
    "attachments": ["https://acme.test/evidence/harness.pdf"],
}


@pytest.fixture
def portal(make_caller: Callable[..., ApiCaller]) -> ApiCaller:
    return make_caller("appeals:write", name="portal")


def suspended_by(account: Account, actor: Actor, **extra: Any) -> Decision:
    case = case_open(account=account, summary="Distillation pattern", actor=Actor.system("t"))
    case_transition(
        case=case, command=Suspend(reason="Distillation", policies=[POLICY], **extra), actor=actor
    )
    return Decision.objects.get(case=case, kind__in=("suspend", "restrict"))


def counts() -> tuple[int, int, int, int, int]:
    return (
        Appeal.objects.count(),
        CaseEvent.objects.count(),
        Notice.objects.count(),
        Decision.objects.count(),
        EnforcementChange.objects.count(),
    )


def file(portal: ApiCaller, decision: Decision, body: dict[str, Any] | None = None) -> Any:
    return portal.post(f"/decisions/{decision.reference}/appeals", body or APPEAL)


def filed(portal: ApiCaller, decision: Decision) -> dict[str, Any]:
    response = file(portal, decision)
    assert response.status_code == 201, response.content
    return dict(response.json())


def emails(account: Account, event: str) -> list[Notice]:
    return list(Notice.objects.filter(account=account, channel="email", event=event))


def test_overturning_a_suspension_reinstates_and_tells_everyone(
    portal: ApiCaller,
    api: ApiCaller,
    staff: Callable[[str], ApiCaller],
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
    hook: Any,  # noqa: F811
) -> None:
    decision = suspended_by(account, actors["investigator"])
    assert lookup(api)["status"] == "suspended"

    body = filed(portal, decision)
    assert body["state"] == "received"
    assert body["decision"] == decision.reference
    assert body["filed_by"] == {
        "kind": "api_client",
        "label": "api:portal",
        "acted_by": "automation",
    }
    assert body["attachments"] == APPEAL["attachments"]
    receipts = emails(account, "appeal_received")
    assert {n.recipient for n in receipts} == {"legal@acme.test", "cto@acme.test"}
    assert str(body["id"]) in receipts[0].body_text and decision.reference in receipts[0].subject
    event = CaseEvent.objects.filter(case=decision.case).last()
    assert event is not None and event.action == "appeal_received"
    assert event.data["appeal"] == body["id"]

    # The investigator who suspended may neither review nor decide it.
    before = counts()
    problem(
        staff("investigator").post(f"/appeals/{body['id']}/review"), 403, "conflict_of_interest"
    )
    overturn = {"outcome": "overturned", "reason": "The harness is the customer's own."}
    problem(
        staff("investigator").post(f"/appeals/{body['id']}/decide", overturn),
        403,
        "conflict_of_interest",
    )
    assert counts() == before
    assert Appeal.objects.get(pk=body["id"]).state == "received"

    lead = staff("lead")
    review = lead.post(f"/appeals/{body['id']}/review")
    assert review.status_code == 200, review.content
    assert review.json()["state"] == "in_review"
    assert review.json()["reviewer"]["label"] == "lead"
    decided = lead.post(f"/appeals/{body['id']}/decide", overturn)
    assert decided.status_code == 200, decided.content
    result = decided.json()
    assert result["state"] == "overturned"
    outcome = Decision.objects.get(reference=result["outcome"])
    assert outcome.kind == "appeal_overturned"
    assert outcome.actor_label == "lead"
    assert outcome.statement["decision"]["text"].startswith("Your appeal succeeded")
    assert Restriction.objects.get(decision=decision).ended_by == outcome

    # The gateway, the feed and the partners follow.
    now = lookup(api)
    assert (now["status"], now["restrictions"]) == ("active", [])
    change = feed_last(api)
    assert (change["status"], change["previous_status"]) == ("active", "suspended")
    assert change["decision"] == outcome.reference
    payload = webhook_last(account)
    assert payload["type"] == "enforcement.reinstated"
    assert payload["data"]["decision"] == outcome.reference

    # The account hears of the reinstatement and of the outcome, with reasons and redress.
    [reinstated, *_] = emails(account, "reinstatement")
    assert "appeal" in reinstated.body_text and reinstated.statement_reference == outcome.reference
    told = emails(account, "appeal_decided")
    assert len(told) == 2
    assert told[0].statement == outcome.statement
    assert "overturned" in told[0].subject
    assert "The harness is the customer's own." in told[0].body_text
    assert "DSA Art. 21" in told[0].body_text and "courts" in told[0].body_text
    assert outcome.reference in told[0].body_text
    actions = list(CaseEvent.objects.filter(case=decision.case).values_list("action", flat=True))[
        -3:
    ]
    assert actions == ["appeal_received", "appeal_review", "appeal_decided"]

    # Decided once: a second decision is refused.
    problem(lead.post(f"/appeals/{body['id']}/decide", overturn), 409, "appeal_not_open")


def test_modified_to_a_30_day_rate_limit_restricts_until_it_expires(
    portal: ApiCaller,
    api: ApiCaller,
    staff: Callable[[str], ApiCaller],
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
    clock: Callable[[timedelta], datetime],  # noqa: F811
) -> None:
    decision = suspended_by(account, actors["investigator"])
    appeal = filed(portal, decision)
    response = staff("lead").post(
        f"/appeals/{appeal['id']}/decide",
        {
            "outcome": "modified",
            "reason": "A suspension goes further than the breach calls for.",
            "restriction": {"kind": "rate_limit", "requests_per_minute": 10},
            "duration": "P30D",
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "modified"
    outcome = Decision.objects.get(reference=response.json()["outcome"])
    assert outcome.kind == "appeal_modified"
    now = lookup(api)
    assert now["status"] == "restricted"
    [shown] = now["restrictions"]
    assert (shown["kind"], shown["requests_per_minute"]) == ("rate_limit", 10)
    assert shown["decision"] == outcome.reference
    assert Restriction.objects.get(decision=decision).ended_by == outcome
    [told, *_] = emails(account, "appeal_decided")
    assert "changed" in told.subject and told.statement_reference == outcome.reference
    assert emails(account, "restriction")  # the enforcement change, as for any restriction

    clock(timedelta(days=30, seconds=1))
    assert lookup(api)["status"] == "active"
    assert restrictions_expire() == 1
    assert feed_last(api)["status"] == "active"


def test_upheld_changes_nothing_but_tells_the_account(
    portal: ApiCaller,
    api: ApiCaller,
    staff: Callable[[str], ApiCaller],
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
) -> None:
    decision = suspended_by(account, actors["investigator"])
    appeal = filed(portal, decision)
    changes = EnforcementChange.objects.count()
    response = staff("lead").post(
        f"/appeals/{appeal['id']}/decide", {"outcome": "upheld", "reason": "Logs confirm it."}
    )
    assert response.status_code == 200, response.content
    upheld = Decision.objects.get(reference=response.json()["outcome"])
    assert upheld.kind == "appeal_upheld"
    assert upheld.statement["decision"]["text"].startswith("Your appeal did not succeed")
    assert upheld.restrictions.count() == 0 and upheld.lifted == []
    assert EnforcementChange.objects.count() == changes
    assert lookup(api)["status"] == "suspended"
    [told, *_] = emails(account, "appeal_decided")
    assert "stands" in told.subject


def test_after_the_window_or_while_another_is_open_nothing_is_stored(
    portal: ApiCaller,
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
    settings: Any,
    clock: Callable[[timedelta], datetime],  # noqa: F811
) -> None:
    decision = suspended_by(account, actors["investigator"])
    first = filed(portal, decision)
    before = counts()
    body = problem(file(portal, decision), 409, "appeal_already_open")
    assert str(first["id"]) in body["detail"]
    assert counts() == before

    # Once it is withdrawn, another may be filed; past the window, none.
    assert portal.post(f"/appeals/{first['id']}/withdraw", {}).json()["state"] == "withdrawn"
    assert file(portal, decision).status_code == 201
    other = suspended_by(
        Account.objects.create(external_id="beta-ai", contacts=["x@beta.test"]),
        actors["investigator"],
    )
    clock(timedelta(days=settings.APPEAL_WINDOW_DAYS, seconds=1))
    before = counts()
    problem(file(portal, other), 409, "appeal_window_closed")
    assert counts() == before


def test_warnings_and_expiries_cannot_be_appealed(
    portal: ApiCaller, account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    case = case_open(account=account, summary="x", actor=actors["analyst"])
    case_transition(
        case=case,
        command=Dismiss(reason="Minor", warning="Do not do it again"),
        actor=actors["lead"],
    )
    warn = Decision.objects.get(case=case, kind="warn")
    before = counts()
    problem(file(portal, warn), 409, "not_appealable")
    assert counts() == before
    problem(portal.post("/decisions/sor_" + "0" * 32 + "/appeals", APPEAL), 404)


def test_an_automated_decision_is_decided_by_a_person(
    portal: ApiCaller,
    make_caller: Callable[..., ApiCaller],
    staff: Callable[[str], ApiCaller],
    account: Account,
    policies: Any,
) -> None:
    decision = suspended_by(account, Actor.system("flag rules"))
    assert decision.automated
    appeal = filed(portal, decision)
    automation = make_caller("cases:write", role="lead")
    before = counts()
    problem(automation.post(f"/appeals/{appeal['id']}/review"), 403, "person_required")
    problem(
        automation.post(f"/appeals/{appeal['id']}/decide", {"outcome": "upheld", "reason": "r"}),
        403,
        "person_required",
    )
    assert counts() == before
    response = staff("investigator").post(
        f"/appeals/{appeal['id']}/decide", {"outcome": "upheld", "reason": "Confirmed"}
    )
    assert response.status_code == 200, response.content


def test_the_same_api_client_may_not_decide_its_own_decision(
    portal: ApiCaller, users: dict[str, User], account: Account, policies: Any
) -> None:
    """A staff tool's key decided (naming the lead): the same key may not decide the appeal,
    whoever it names; another person, in their own session, may."""
    _, key = api_client_create(
        name="console", scopes=["cases:read", "cases:write"], role="lead", staff_tool=True
    )
    tool = ApiCaller(Client(raise_request_exception=False), key)
    case = case_open(account=account, summary="x", actor=Actor.system("t"))
    response = tool.post(
        f"/cases/{case.pk}/transitions",
        {"action": "suspend", "reason": "r", "policies": [POLICY]},
        headers={"Acting-User": "lead"},
    )
    assert response.status_code == 200, response.content
    decision = Decision.objects.get(case=case, kind="suspend")
    assert not decision.automated
    appeal = filed(portal, decision)
    url = f"/appeals/{appeal['id']}/decide"
    upheld = {"outcome": "upheld", "reason": "r"}
    body = problem(tool.post(url, upheld, headers={"Acting-User": "investigator"}), 403)
    assert body["code"] == "conflict_of_interest" and "decided" in body["detail"]
    client = Client(raise_request_exception=False)
    client.force_login(users["lead"])
    problem(ApiCaller(client).post(url, upheld), 403, "conflict_of_interest")
    client.force_login(users["investigator"])
    assert ApiCaller(client).post(url, upheld).status_code == 200


def lead(name: str, users: dict[str, User]) -> User:
    user = User.objects.create_user(username=name, email=f"{name}@tns.example", is_staff=True)
    user.groups.add(users["lead"].groups.get())
    return user


def as_staff(user: User) -> ApiCaller:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return ApiCaller(client)


def test_a_termination_is_lifted_by_four_eyes_of_leads_who_took_no_part(
    portal: ApiCaller,
    api: ApiCaller,
    account: Account,
    actors: dict[str, Actor],
    users: dict[str, User],
    policies: Any,
    hook: Any,  # noqa: F811
) -> None:
    """Acceptance 3: lead one proposed the termination and lead two approved it; neither may
    decide the appeal. Lead three proposes to overturn it, lead four approves: the account is
    active again, and the customer heard of the receipt and of the outcome with reasons."""
    proposer, approver, third, fourth = (lead(f"lead-{n}", users) for n in range(1, 5))
    case = case_open(account=account, summary="x", actor=actors["analyst"])
    case_transition(case=case, command=Suspend(reason="r", policies=[POLICY]), actor=actors["lead"])
    case_transition(
        case=case,
        command=Investigate(findings="Confirmed", violation_confirmed=True),
        actor=actors["investigator"],
    )
    pending = approval_propose(
        case=case, command=Terminate(rationale="Repeated"), actor=Actor.for_user(proposer)
    )
    approval_approve(approval=pending, actor=Actor.for_user(approver))
    termination = Decision.objects.get(case=case, kind="terminate")
    assert lookup(api)["status"] == "terminated"

    appeal = filed(portal, termination)
    assert emails(account, "appeal_received")
    url = f"/appeals/{appeal['id']}/decide"
    overturn = {"outcome": "overturned", "reason": "The harness is the customer's own."}
    before = counts()
    for took_part, part in ((proposer, "proposed"), (approver, "approved")):
        body = problem(as_staff(took_part).post(url, overturn), 403, "conflict_of_interest")
        assert part in body["detail"]
    problem(as_staff(users["investigator"]).post(url, overturn), 403, "forbidden")
    assert counts() == before

    # Lead three proposes: nothing changes until a second lead approves.
    proposed = as_staff(third).post(url, overturn)
    assert proposed.status_code == 202, proposed.content
    request = proposed.json()["approval"]
    assert (request["action"], request["state"]) == ("lift_termination", "pending")
    assert lookup(api)["status"] == "terminated"
    assert Appeal.objects.get(pk=appeal["id"]).state == "in_review"
    approve = f"/approvals/{request['id']}/approve"
    problem(as_staff(third).post(approve, {"comment": "mine"}), 403, "self_approval")
    problem(as_staff(proposer).post(approve, {"comment": "x"}), 403, "conflict_of_interest")
    assert lookup(api)["status"] == "terminated"

    approved = as_staff(fourth).post(approve, {"comment": "Agreed"})
    assert approved.status_code == 200, approved.content
    decided = Appeal.objects.get(pk=appeal["id"])
    assert decided.state == "overturned" and decided.outcome is not None
    outcome = decided.outcome
    assert outcome.kind == "appeal_overturned" and outcome.actor_label == "lead-4"
    event = outcome.event
    assert event is not None and event.data["approval"]["proposed_by"] == "lead-3"
    assert event.data["approval"]["approved_by"] == "lead-4"
    assert lookup(api)["status"] == "active"
    assert feed_last(api)["decision"] == outcome.reference
    assert webhook_last(account)["type"] == "enforcement.reinstated"
    told = emails(account, "appeal_decided")
    assert told and told[0].statement == outcome.statement
    assert "The harness is the customer's own." in told[0].body_text


def test_modifying_a_termination_to_a_rate_limit_through_four_eyes(
    portal: ApiCaller,
    api: ApiCaller,
    account: Account,
    actors: dict[str, Actor],
    users: dict[str, User],
    policies: Any,
    clock: Callable[[timedelta], datetime],  # noqa: F811
) -> None:
    third, fourth = lead("lead-3", users), lead("lead-4", users)
    case = case_open(account=account, summary="x", actor=actors["analyst"])
    case_transition(case=case, command=Suspend(reason="r", policies=[POLICY]), actor=actors["lead"])
    case_transition(
        case=case,
        command=Investigate(findings="Confirmed", violation_confirmed=True),
        actor=actors["investigator"],
    )
    case_transition(case=case, command=Terminate(rationale="Repeated"), actor=actors["lead"])
    appeal = filed(portal, Decision.objects.get(case=case, kind="terminate"))
    modify = {
        "outcome": "modified",
        "reason": "A termination goes further than the breach calls for.",
        "restriction": {"kind": "rate_limit", "requests_per_minute": 10},
        "duration": "P30D",
    }
    proposed = as_staff(third).post(f"/appeals/{appeal['id']}/decide", modify)
    assert proposed.status_code == 202, proposed.content
    approval_id = proposed.json()["approval"]["id"]
    assert as_staff(fourth).post(f"/approvals/{approval_id}/approve", {}).status_code == 200
    now = lookup(api)
    assert now["status"] == "restricted"
    assert now["restrictions"][0]["requests_per_minute"] == 10
    assert Appeal.objects.get(pk=appeal["id"]).state == "modified"
    clock(timedelta(days=30, seconds=1))
    assert lookup(api)["status"] == "active"
    assert restrictions_expire() == 1


def test_upholding_a_termination_needs_one_lead(
    portal: ApiCaller,
    api: ApiCaller,
    staff: Callable[[str], ApiCaller],
    account: Account,
    actors: dict[str, Actor],
    users: dict[str, User],
    policies: Any,
) -> None:
    case = case_open(account=account, summary="x", actor=actors["analyst"])
    case_transition(case=case, command=Suspend(reason="r", policies=[POLICY]), actor=actors["lead"])
    case_transition(
        case=case,
        command=Investigate(findings="Confirmed", violation_confirmed=True),
        actor=actors["investigator"],
    )
    case_transition(
        case=case, command=Terminate(rationale="Repeated"), actor=Actor.for_user(lead("l2", users))
    )
    appeal = filed(portal, Decision.objects.get(case=case, kind="terminate"))
    upheld = staff("lead").post(
        f"/appeals/{appeal['id']}/decide", {"outcome": "upheld", "reason": "Confirmed"}
    )
    assert upheld.status_code == 200, upheld.content
    assert lookup(api)["status"] == "terminated"


def test_bad_outcomes_are_refused_before_anything_is_written(
    portal: ApiCaller,
    staff: Callable[[str], ApiCaller],
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
) -> None:
    appeal = filed(portal, suspended_by(account, actors["investigator"]))
    lead = staff("lead")
    before = counts()
    url = f"/appeals/{appeal['id']}/decide"
    problem(lead.post(url, {"outcome": "modified", "reason": "r"}), 422, "missing_input")
    problem(
        lead.post(
            url,
            {
                "outcome": "upheld",
                "reason": "r",
                "restriction": {"kind": "rate_limit", "requests_per_minute": 5},
            },
        ),
        422,
    )
    problem(lead.post(url, {"outcome": "maybe", "reason": "r"}), 422)
    problem(lead.post(url, {"outcome": "upheld", "reason": " "}), 422)
    problem(
        lead.post(
            url,
            {"outcome": "modified", "reason": "r", "restriction": {"kind": "termination"}},
        ),
        422,
    )
    problem(portal.post("/decisions/" + appeal["decision"] + "/appeals", {"reason": "r"}), 422)
    problem(
        portal.post(
            "/decisions/" + appeal["decision"] + "/appeals",
            {**APPEAL, "attachments": ["x"] * 21},
        ),
        422,
    )
    problem(lead.post("/appeals/999999/decide", {"outcome": "upheld", "reason": "r"}), 404)
    assert counts() == before


def test_list_filter_and_read(
    portal: ApiCaller,
    api: ApiCaller,
    staff: Callable[[str], ApiCaller],
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
) -> None:
    first = filed(portal, suspended_by(account, actors["investigator"]))
    beta = Account.objects.create(external_id="beta-ai", contacts=["x@beta.test"])
    second = filed(portal, suspended_by(beta, actors["investigator"]))
    assert staff("lead").post(f"/appeals/{second['id']}/review").status_code == 200
    listed = api.get("/appeals").json()["results"]
    assert [a["id"] for a in listed] == [second["id"], first["id"]]
    received = api.get("/appeals", state="received").json()["results"]
    assert [a["id"] for a in received] == [first["id"]]
    assert [a["id"] for a in api.get("/appeals", account="beta-ai").json()["results"]] == [
        second["id"]
    ]
    problem(api.get("/appeals", state="nonsense"), 400)
    one = api.get(f"/appeals/{first['id']}")
    assert one.status_code == 200 and one.json() == {**first}
    problem(api.get("/appeals/999999"), 404)


def test_withdrawn_appeals_cannot_be_decided(
    portal: ApiCaller,
    staff: Callable[[str], ApiCaller],
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
) -> None:
    decision = suspended_by(account, actors["investigator"])
    appeal = filed(portal, decision)
    withdrawn = portal.post(f"/appeals/{appeal['id']}/withdraw", {"reason": "Settled"})
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"] is not None
    last = CaseEvent.objects.filter(case=decision.case).last()
    assert last is not None and (last.action, last.reason) == ("appeal_withdrawn", "Settled")
    before = counts()
    url = f"/appeals/{appeal['id']}"
    problem(staff("lead").post(url + "/decide", {"outcome": "upheld", "reason": "r"}), 409)
    problem(staff("lead").post(url + "/review"), 409, "appeal_not_open")
    problem(portal.post(url + "/withdraw", {}), 409, "appeal_not_open")
    assert counts() == before


def test_filing_is_idempotent_with_a_key(
    portal: ApiCaller, account: Account, actors: dict[str, Actor], policies: Any
) -> None:
    decision = suspended_by(account, actors["investigator"])
    key = {"Idempotency-Key": "appeal-1"}
    first = portal.post(f"/decisions/{decision.reference}/appeals", APPEAL, headers=key)
    again = portal.post(f"/decisions/{decision.reference}/appeals", APPEAL, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Appeal.objects.count() == 1
    assert len(emails(account, "appeal_received")) == 2  # one per contact, once


def test_case_closed_after_the_appeal_was_filed_still_takes_the_outcome(
    portal: ApiCaller,
    api: ApiCaller,
    staff: Callable[[str], ApiCaller],
    account: Account,
    actors: dict[str, Actor],
    policies: Any,
) -> None:
    """An appeal of a suspension whose case moved on (investigated) is still decided on the
    case's timeline; overturning lifts the suspension the investigation kept."""
    decision = suspended_by(account, actors["investigator"])
    appeal = filed(portal, decision)
    case_transition(
        case=decision.case,
        command=Investigate(findings="Unclear", violation_confirmed=False),
        actor=actors["lead"],
    )
    response = staff("lead").post(
        f"/appeals/{appeal['id']}/decide", {"outcome": "overturned", "reason": "No violation"}
    )
    assert response.status_code == 200, response.content
    assert lookup(api)["status"] == "active"
    assert Case.objects.get(pk=decision.case_id).state == "investigated"
