"""GET/POST /cases, GET /cases/{id}, transitions and the timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Account
from cases.actions import Investigate, Suspend
from cases.models import Case, CaseEvent, PolicyClause
from cases.services import case_assign, case_open, case_transition
from core.actors import Actor

from .conftest import ApiCaller, problem, signal

SUSPEND = {"action": "suspend", "reason": "Distilling", "policies": ["competing-model-development"]}
SUSPEND_COMMAND = Suspend(reason="Distilling", policies=["competing-model-development"])


@pytest.fixture
def case(account: Account, policies: dict[str, PolicyClause]) -> Case:
    return case_open(account=account, summary="Flagged by hand", actor=Actor.system())


def suspended(case: Case) -> Case:
    return case_transition(case=case, command=SUSPEND_COMMAND, actor=Actor.system())


# --- list ---------------------------------------------------------------------------------------


def test_list_cases_with_filters(
    api: ApiCaller, case: Case, users: dict[str, User], policies: dict[str, PolicyClause]
) -> None:
    other = Account.objects.create(external_id="globex")
    late = case_open(account=other, summary="Old", actor=Actor.system(), priority="low")
    Case.objects.filter(pk=late.pk).update(review_deadline=timezone.now() - timedelta(hours=1))
    case_assign(case=case, assignee=users["analyst"], actor=Actor.system())
    suspended(case)

    def ids(**query: str) -> list[int]:
        response = api.get("/cases", **query)
        assert response.status_code == 200, response.content
        return [c["id"] for c in response.json()["results"]]

    assert ids() == [late.pk, case.pk]
    assert ids(state="suspended") == [case.pk]
    assert ids(account="globex") == [late.pk]
    assert ids(priority="low") == [late.pk]
    assert ids(assignee="analyst") == [case.pk]
    assert ids(overdue="true") == [late.pk]
    assert ids(overdue="false") == [case.pk]
    assert ids(policy="competing-model-development") == [case.pk]
    problem(api.get("/cases", priority="urgent"), 400, "invalid_query")
    problem(api.get("/cases", overdue="maybe"), 400, "invalid_query")


def test_list_cases_cursor_pages(api: ApiCaller, db: None) -> None:
    for n in range(3):
        case_open(
            account=Account.objects.create(external_id=f"a{n}"), summary="x", actor=Actor.system()
        )
    first = api.get("/cases", limit="2").json()
    assert len(first["results"]) == 2
    rest = api.client.get(first["next"], headers=api.headers).json()
    assert len(rest["results"]) == 1
    assert rest["next"] is None


# --- open ---------------------------------------------------------------------------------------


def test_open_case_by_hand(api: ApiCaller, account: Account, policies: Any) -> None:
    response = api.post(
        "/cases",
        {
            "account": "acme-ai",
            "summary": "Press report",
            "priority": "high",
            "policies": ["competing-model-development"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "flagged"
    assert body["priority"] == "high"
    assert body["opened_by"].startswith("api:")
    assert body["incidents"][0]["kind"] == "report"
    assert CaseEvent.objects.filter(case_id=body["id"], action="open").count() == 1


def test_open_case_when_one_is_open_is_409(api: ApiCaller, case: Case) -> None:
    body = problem(api.post("/cases", {"account": "acme-ai", "summary": "Again"}), 409)
    assert body["code"] == "case_already_open"
    assert Case.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"summary": "x"}, "account"),
        ({"account": "nobody", "summary": "x"}, "account"),
        ({"account": "acme-ai"}, "summary"),
        ({"account": "acme-ai", "summary": "x", "priority": "urgent"}, "priority"),
    ],
)
def test_open_case_validation(api: ApiCaller, account: Account, body: Any, field: str) -> None:
    response = problem(api.post("/cases", body), 422)
    assert response["errors"][0]["field"] == field
    assert Case.objects.exists() is False


def test_open_case_with_unknown_policy_is_422(api: ApiCaller, account: Account) -> None:
    body = problem(
        api.post("/cases", {"account": "acme-ai", "summary": "x", "policies": ["no"]}), 422
    )
    assert body["errors"][0]["pointer"] == "/policies"


@pytest.mark.parametrize(("role", "status"), [("auditor", 403), ("analyst", 201)])
def test_staff_roles_for_opening(
    staff: Callable[[str], ApiCaller], account: Account, role: str, status: int
) -> None:
    response = staff(role).post("/cases", {"account": "acme-ai", "summary": "Report"})
    assert response.status_code == status


def test_client_without_cases_write_cannot_open(
    make_caller: Callable[..., ApiCaller], account: Account
) -> None:
    problem(make_caller("cases:read").post("/cases", {"account": "acme-ai", "summary": "x"}), 403)


# --- detail -------------------------------------------------------------------------------------


def test_case_detail_has_signals_and_allowed_actions(
    make_caller: Callable[..., ApiCaller], api: ApiCaller, account: Account
) -> None:
    api.post("/signals", {"signals": [signal(1, severity="critical")]})
    case = Case.objects.get()
    body = api.get(f"/cases/{case.pk}").json()
    assert [s["dedupe_key"] for s in body["signals"]] == ["rl-1"]
    assert body["signal_count"] == 1
    assert body["allowed_actions"] == ["suspend", "dismiss"]
    reader = make_caller("cases:read")
    assert reader.get(f"/cases/{case.pk}").json()["allowed_actions"] == []


@pytest.mark.parametrize(
    ("role", "actions"),
    [
        ("auditor", []),
        ("analyst", []),
        ("investigator", ["remediate", "dismiss"]),
        ("lead", ["remediate", "terminate", "dismiss"]),
    ],
)
def test_allowed_actions_follow_the_staff_role(
    staff: Callable[[str], ApiCaller], case: Case, role: str, actions: list[str]
) -> None:
    suspended(case)
    case_transition(
        case=case,
        command=Investigate(findings="yes", violation_confirmed=True),
        actor=Actor.system(),
    )
    assert staff(role).get(f"/cases/{case.pk}").json()["allowed_actions"] == actions


def test_case_read_scope_is_required(make_caller: Callable[..., ApiCaller], case: Case) -> None:
    problem(make_caller("enforcement:read").get(f"/cases/{case.pk}"), 403)
    problem(make_caller("enforcement:read").get("/cases"), 403)
    problem(make_caller("enforcement:read").get(f"/cases/{case.pk}/events"), 403)


# --- transitions --------------------------------------------------------------------------------


def test_suspend_over_http(api: ApiCaller, case: Case) -> None:
    response = api.post(f"/cases/{case.pk}/transitions", {**SUSPEND, "expected_state": "flagged"})
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "suspended"
    assert Account.objects.get().enforcement_status == "suspended"


def test_stale_expected_state_is_409_and_changes_nothing(api: ApiCaller, case: Case) -> None:
    suspended(case)
    events = CaseEvent.objects.count()
    body = problem(
        api.post(
            f"/cases/{case.pk}/transitions",
            {"action": "dismiss", "reason": "x", "expected_state": "flagged"},
        ),
        409,
        "stale_state",
    )
    assert body["current_state"] == "suspended"
    assert CaseEvent.objects.count() == events


def test_action_not_allowed_from_state_is_409(api: ApiCaller, case: Case) -> None:
    problem(
        api.post(
            f"/cases/{case.pk}/transitions", {"action": "remediate", "verification_note": "x"}
        ),
        409,
        "transition_not_allowed",
    )


def test_missing_input_is_422_naming_the_fields(api: ApiCaller, case: Case) -> None:
    body = problem(api.post(f"/cases/{case.pk}/transitions", {"action": "suspend"}), 422)
    assert body["code"] == "missing_input"
    assert {e["field"] for e in body["errors"]} == {"reason", "policies"}
    assert Case.objects.get().state == "flagged"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"action": "explode"},
        {"action": "suspend", "reason": "x", "policies": "not-a-list"},
        {"action": "suspend", "reason": "x", "policies": ["unknown-policy"]},
        {"action": "suspend", "reason": "x" * 20_001, "policies": ["competing-model-development"]},
        {"action": "dismiss", "reason": "x", "expected_state": "asleep"},
    ],
)
def test_invalid_transition_bodies_are_422(api: ApiCaller, case: Case, body: Any) -> None:
    problem(api.post(f"/cases/{case.pk}/transitions", body), 422)
    assert Case.objects.get().state == "flagged"


def test_investigate_with_bad_remediation_is_422(api: ApiCaller, case: Case) -> None:
    suspended(case)
    for remediation in (
        {"items": []},
        {"items": ["x"]},
        {"items": ["x"], "deadline": "2000-01-01T00:00:00Z"},
        {"items": ["x"], "deadline_days": 0},
    ):
        problem(
            api.post(
                f"/cases/{case.pk}/transitions",
                {
                    "action": "investigate",
                    "findings": "f",
                    "violation_confirmed": True,
                    "remediation": remediation,
                },
            ),
            422,
        )
    assert Case.objects.get().state == "suspended"


def test_transition_on_unknown_case_is_404(api: ApiCaller, db: None) -> None:
    problem(api.post("/cases/4242/transitions", {"action": "dismiss", "reason": "x"}), 404)


@pytest.mark.parametrize(
    ("role", "action", "status"),
    [
        ("auditor", "suspend", 403),
        ("analyst", "suspend", 200),
    ],
)
def test_staff_role_decides_transitions(
    staff: Callable[[str], ApiCaller], case: Case, role: str, action: str, status: int
) -> None:
    response = staff(role).post(f"/cases/{case.pk}/transitions", SUSPEND)
    assert response.status_code == status


def test_analyst_may_not_investigate_and_lead_may_propose_a_termination(
    staff: Callable[[str], ApiCaller], case: Case, users: dict[str, User]
) -> None:
    suspended(case)
    body = {"action": "investigate", "findings": "f", "violation_confirmed": True}
    problem(staff("analyst").post(f"/cases/{case.pk}/transitions", body), 403, "forbidden")
    assert staff("investigator").post(f"/cases/{case.pk}/transitions", body).status_code == 200
    terminate = {"action": "terminate", "rationale": "Repeated"}
    problem(staff("investigator").post(f"/cases/{case.pk}/transitions", terminate), 403)
    proposed = staff("lead").post(f"/cases/{case.pk}/transitions", terminate)
    assert proposed.status_code == 202, proposed.content
    assert proposed.json()["approval"]["state"] == "pending"
    assert Account.objects.get().enforcement_status == "suspended"
    assert Case.objects.get(pk=case.pk).state == "investigated"


def test_client_role_bounds_its_transitions(
    make_caller: Callable[..., ApiCaller], case: Case
) -> None:
    analyst_client = make_caller("cases:write", "cases:read", role="analyst")
    assert analyst_client.post(f"/cases/{case.pk}/transitions", SUSPEND).status_code == 200
    problem(
        analyst_client.post(
            f"/cases/{case.pk}/transitions",
            {"action": "investigate", "findings": "f", "violation_confirmed": False},
        ),
        403,
    )
    problem(make_caller("cases:read").post(f"/cases/{case.pk}/transitions", SUSPEND), 403)


# --- events -------------------------------------------------------------------------------------


def test_events_oldest_first(api: ApiCaller, case: Case) -> None:
    suspended(case)
    events = api.get(f"/cases/{case.pk}/events").json()["results"]
    assert [(e["seq"], e["action"]) for e in events] == [(1, "open"), (2, "suspend")]
    assert events[1]["from_state"] == "flagged"
    assert events[1]["actor"]["kind"] == "system"
    assert events[1]["policy_versions"] == [{"code": "competing-model-development", "version": 2}]
    assert events[1]["prev_hash"] == events[0]["hash"]
    problem(api.get("/cases/999/events"), 404)


def test_auditor_reads_the_timeline(staff: Callable[[str], ApiCaller], case: Case) -> None:
    assert staff("auditor").get(f"/cases/{case.pk}/events").status_code == 200


def test_case_list_query_count_does_not_grow_with_rows(
    api: ApiCaller, db: None, policies: dict[str, PolicyClause]
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/cases").status_code == 200
        return len(ctx.captured_queries)

    case_open(
        account=Account.objects.create(external_id="first"),
        summary="x",
        actor=Actor.system(),
        policies=["competing-model-development"],
    )
    queries()  # warm: with a shared cache (CACHE_URL) the key is cached after the first call
    few = queries()
    for n in range(10):
        case_open(
            account=Account.objects.create(external_id=f"more-{n}"),
            summary="x",
            actor=Actor.system(),
            policies=["rate-limit-evasion"],
        )
    assert queries() == few


def test_case_detail_query_count_is_bounded(
    api: ApiCaller, account: Account, django_assert_max_num_queries: Any
) -> None:
    api.post("/signals", {"signals": [signal(n, severity="critical") for n in range(30)]})
    case = Case.objects.get()
    with django_assert_max_num_queries(12):
        assert api.get(f"/cases/{case.pk}").json()["signal_count"] == 30
