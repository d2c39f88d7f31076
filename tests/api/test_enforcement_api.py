"""GET /enforcement/{id}, POST /enforcement/check, GET /enforcement/changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.models import Account
from cases.actions import Suspend
from cases.models import Case, PolicyClause
from cases.services import case_open, case_transition
from core.actors import Actor

from .conftest import API, ApiCaller, problem

SUSPEND = {"reason": "Distilling", "policies": ["competing-model-development"]}
SUSPEND_COMMAND = Suspend(reason="Distilling", policies=["competing-model-development"])


@pytest.fixture
def suspended_case(account: Account, policies: dict[str, PolicyClause]) -> Case:
    case = case_open(account=account, summary="x", actor=Actor.system())
    return case_transition(case=case, command=SUSPEND_COMMAND, actor=Actor.system())


def reader(make_caller: Callable[..., ApiCaller]) -> ApiCaller:
    return make_caller("enforcement:read")


def test_active_account(make_caller: Callable[..., ApiCaller], account: Account) -> None:
    response = reader(make_caller).get("/enforcement/acme-ai")
    assert response.status_code == 200
    body = response.json()
    assert body["account"] == "acme-ai"
    assert body["status"] == "active"
    assert body["case"] is None
    assert body["policies"] == []
    assert body["since"].endswith("Z")
    assert response["Cache-Control"] == "private, no-cache"
    assert response["ETag"]


def test_suspended_account_names_case_and_policies(
    make_caller: Callable[..., ApiCaller], suspended_case: Case
) -> None:
    body = reader(make_caller).get("/enforcement/acme-ai").json()
    assert body["status"] == "suspended"
    assert body["case"] == suspended_case.pk
    assert body["policies"] == ["competing-model-development"]


def test_unknown_account_is_404(make_caller: Callable[..., ApiCaller], db: None) -> None:
    problem(reader(make_caller).get("/enforcement/never-seen"), 404, "not_found")


def test_etag_answers_304_until_the_status_changes(
    make_caller: Callable[..., ApiCaller], account: Account, policies: Any
) -> None:
    caller = reader(make_caller)
    etag = caller.get("/enforcement/acme-ai")["ETag"]
    assert caller.get("/enforcement/acme-ai", headers={"If-None-Match": etag}).status_code == 304
    case = case_open(account=account, summary="x", actor=Actor.system())
    case_transition(case=case, command=SUSPEND_COMMAND, actor=Actor.system())
    response = caller.get("/enforcement/acme-ai", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json()["status"] == "suspended"


def test_lookup_errors_are_problems(
    make_caller: Callable[..., ApiCaller], anonymous: ApiCaller, account: Account
) -> None:
    response = anonymous.get("/enforcement/acme-ai")
    problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    problem(
        Client().get(f"{API}/enforcement/acme-ai", headers={"Authorization": "Bearer tsk_bad"}),
        401,
        "authentication_failed",
    )
    problem(make_caller("cases:read").get("/enforcement/acme-ai"), 403, "forbidden")
    caller = reader(make_caller)
    response = caller.client.post(f"{API}/enforcement/acme-ai", headers=caller.headers)
    problem(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"
    problem(caller.get("/enforcement/acme-ai", headers={"Accept": "text/html"}), 406)


@pytest.mark.parametrize(("role", "status"), [("auditor", 200), ("analyst", 200)])
def test_staff_session_reads_enforcement(
    staff: Callable[[str], ApiCaller], account: Account, role: str, status: int
) -> None:
    assert staff(role).get("/enforcement/acme-ai").status_code == status


def test_lookup_takes_at_most_two_queries_including_auth(
    make_caller: Callable[..., ApiCaller],
    suspended_case: Case,
    django_assert_max_num_queries: Any,
) -> None:
    caller = reader(make_caller)
    with django_assert_max_num_queries(2):
        response = caller.get("/enforcement/acme-ai")
    assert response.json()["status"] == "suspended"


def test_lookup_with_a_key_is_one_round_trip(
    make_caller: Callable[..., ApiCaller], suspended_case: Case, django_assert_num_queries: Any
) -> None:
    caller = reader(make_caller)
    with django_assert_num_queries(1):
        assert caller.get("/enforcement/acme-ai").status_code == 200
    with django_assert_num_queries(1):
        problem(caller.get("/enforcement/unknown"), 404)


def test_key_and_session_answers_agree(
    make_caller: Callable[..., ApiCaller],
    staff: Callable[[str], ApiCaller],
    suspended_case: Case,
) -> None:
    by_key = reader(make_caller).get("/enforcement/acme-ai")
    by_session = staff("auditor").get("/enforcement/acme-ai")
    assert by_key.content == by_session.content
    assert by_key["ETag"] == by_session["ETag"]


def test_right_prefix_wrong_secret_is_401(
    make_caller: Callable[..., ApiCaller], account: Account
) -> None:
    caller = reader(make_caller)
    assert caller.key is not None
    forged = caller.key[:-4] + ("AAAA" if not caller.key.endswith("AAAA") else "BBBB")
    response = Client().get(
        f"{API}/enforcement/acme-ai", headers={"Authorization": f"Bearer {forged}"}
    )
    problem(response, 401, "authentication_failed")


def test_revoked_key_fails_on_the_next_lookup(
    make_caller: Callable[..., ApiCaller], account: Account
) -> None:
    from accounts.models import ApiClient
    from accounts.services import api_client_revoke

    caller = reader(make_caller)
    assert caller.get("/enforcement/acme-ai").status_code == 200
    api_client_revoke(name=ApiClient.objects.get().name)
    problem(caller.get("/enforcement/acme-ai"), 401)


# --- check --------------------------------------------------------------------------------------


def test_check_answers_each_account_in_order(
    make_caller: Callable[..., ApiCaller],
    suspended_case: Case,
    django_assert_max_num_queries: Any,
) -> None:
    Account.objects.create(external_id="globex")
    caller = reader(make_caller)
    with django_assert_max_num_queries(2):
        response = caller.post("/enforcement/check", {"accounts": ["globex", "nobody", "acme-ai"]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["account"], r["known"], r["status"]) for r in results] == [
        ("globex", True, "active"),
        ("nobody", False, None),
        ("acme-ai", True, "suspended"),
    ]
    assert results[2]["case"] == suspended_case.pk


def test_check_of_1000_is_one_query_and_1001_is_422(
    make_caller: Callable[..., ApiCaller], db: None, django_assert_max_num_queries: Any
) -> None:
    caller = reader(make_caller)
    ids = [f"a{n}" for n in range(1000)]
    with django_assert_max_num_queries(2):
        assert caller.post("/enforcement/check", {"accounts": ids}).status_code == 200
    body = problem(caller.post("/enforcement/check", {"accounts": [*ids, "x"]}), 422)
    assert body["errors"][0]["pointer"] == "/accounts"


@pytest.mark.parametrize("body", [{}, {"accounts": []}, {"accounts": "x"}, {"accounts": [1]}])
def test_check_validation(make_caller: Callable[..., ApiCaller], db: None, body: Any) -> None:
    problem(reader(make_caller).post("/enforcement/check", body), 422, "invalid_input")


def test_check_needs_the_scope(make_caller: Callable[..., ApiCaller], db: None) -> None:
    problem(make_caller("cases:read").post("/enforcement/check", {"accounts": ["a"]}), 403)


# --- changes ------------------------------------------------------------------------------------


def test_change_feed_pages_in_commit_order(
    make_caller: Callable[..., ApiCaller], db: None, policies: Any
) -> None:
    for n in range(3):
        account = Account.objects.create(external_id=f"a{n}")
        case = case_open(account=account, summary="x", actor=Actor.system())
        case_transition(case=case, command=SUSPEND_COMMAND, actor=Actor.system())
    caller = reader(make_caller)
    page = caller.get("/enforcement/changes", after="0", limit="2").json()
    assert [c["account"] for c in page["results"]] == ["a0", "a1"]
    assert page["has_more"] is True
    page2 = caller.get("/enforcement/changes", after=page["next"], limit="2").json()
    assert [c["account"] for c in page2["results"]] == ["a2"]
    assert page2["has_more"] is False
    seqs = [c["seq"] for c in page["results"] + page2["results"]]
    assert seqs == sorted(seqs)
    assert page2["results"][0]["status"] == "suspended"
    assert page2["results"][0]["previous_status"] == "active"
    assert page2["results"][0]["policies"] == ["competing-model-development"]
    end = caller.get("/enforcement/changes", after=page2["next"]).json()
    assert end["results"] == []
    assert end["next"] == page2["next"]


@pytest.mark.parametrize(
    "query", [{"after": "x"}, {"after": "-1"}, {"limit": "0"}, {"limit": "1001"}]
)
def test_change_feed_rejects_bad_cursors(
    make_caller: Callable[..., ApiCaller], db: None, query: dict[str, str]
) -> None:
    problem(reader(make_caller).get("/enforcement/changes", **query), 400, "invalid_query")


def test_change_feed_needs_the_scope(make_caller: Callable[..., ApiCaller], db: None) -> None:
    problem(make_caller("accounts:read").get("/enforcement/changes"), 403)


def test_check_and_lookup_write_the_same_time(
    make_caller: Callable[..., ApiCaller], suspended_case: Case
) -> None:
    caller = reader(make_caller)
    one = caller.get("/enforcement/acme-ai").json()
    (many,) = caller.post("/enforcement/check", {"accounts": ["acme-ai"]}).json()["results"]
    assert many["since"] == one["since"]
    assert many["since"].endswith("Z")
