"""The characters of an external id: refused with a 422 wherever an id enters, and every id that
is accepted can be looked up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.external_ids import EXTERNAL_ID_REGEX, is_external_id
from accounts.models import Account
from cases.actions import Suspend
from cases.services import case_open, case_transition
from core.actors import Actor

from .conftest import ApiCaller, problem, signal

REFUSED = [
    "org/abc",
    "org%2Fabc",
    "/abc",
    "abc/",
    ".",
    "..",
    ".hidden",
    "-abc",
    "_abc",
    "a b",
    "a?b",
    "a#b",
    "a;b",
    "a+b",
    "a\\b",
    "a%b",
    "caf\u00e9",
    "a\tb",
    "a\nb",
    "abc\n",
    "check",
    "changes",
    "x" * 129,
]
# Strings in a body are trimmed first (as every text field is): "abc\n" there is "abc".
REFUSED_IN_BODY = [bad for bad in REFUSED if not is_external_id(bad.strip())]


def rows() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for app in ("accounts", "cases", "notifications")
        for model in apps.get_app_config(app).get_models()
    }


def test_the_rule() -> None:
    for good in ("acme-ai", "A", "9", "org:team@eu", "acct_0001.v2~x", "x" * 128, "Check"):
        assert is_external_id(good), good
    for bad in [*REFUSED, ""]:
        assert not is_external_id(bad), bad


@pytest.mark.parametrize("bad", REFUSED_IN_BODY)
def test_intake_refuses_an_id_that_breaks_the_rule(api: ApiCaller, db: Any, bad: str) -> None:
    before = rows()
    batch = {"signals": [signal(1, account="fine-id"), signal(2, account=bad)]}
    body = problem(api.post("/signals", batch), 422, "invalid_signals")
    pointers = [(e["pointer"], e["code"]) for e in body["errors"]]
    assert pointers in (
        [("/signals/1/account", "external_id")],
        [("/signals/1/account", "max_length")],
    )
    assert rows() == before


@pytest.mark.parametrize("bad", REFUSED)
def test_accounts_put_and_get_refuse_an_id_that_breaks_the_rule(
    api: ApiCaller, db: Any, bad: str
) -> None:
    before = rows()
    path = f"/accounts/{quote(bad, safe='')}"
    body = problem(api.put(path, {"name": "Org"}), 422, "invalid_input")
    assert [e["pointer"] for e in body["errors"]] == ["/external_id"]
    problem(api.get(path), 422, "invalid_input")
    assert rows() == before


@pytest.mark.parametrize("bad", REFUSED)
def test_the_lookup_answers_a_problem_not_a_404_for_an_id_that_breaks_the_rule(
    make_caller: Callable[..., ApiCaller], db: Any, bad: str, django_assert_num_queries: Any
) -> None:
    reader = make_caller("enforcement:read")
    if bad in ("check", "changes"):
        # These name the operations beside the lookup, which answer instead (405 for a GET of
        # check, the feed for changes); no account can have them.
        assert reader.get(f"/enforcement/{bad}").status_code == {"check": 405, "changes": 200}[bad]
        return
    with django_assert_num_queries(0):
        response = reader.get(f"/enforcement/{quote(bad, safe='')}")
    body = problem(response, 422, "invalid_input")
    assert [e["pointer"] for e in body["errors"]] == ["/external_id"]


def test_a_nul_in_the_lookup_path_is_400_not_404(make_caller: Callable[..., ApiCaller]) -> None:
    problem(make_caller("enforcement:read").get("/enforcement/a%00b"), 400, "bad_request")


@pytest.mark.parametrize("bad", REFUSED_IN_BODY)
def test_check_and_opening_a_case_refuse_an_id_that_breaks_the_rule(
    api: ApiCaller, db: Any, bad: str
) -> None:
    before = rows()
    body = problem(api.post("/enforcement/check", {"accounts": ["fine", bad]}), 422)
    assert [e["pointer"] for e in body["errors"]] == ["/accounts/1"]
    body = problem(api.post("/cases", {"account": bad, "summary": "x"}), 422)
    assert [e["pointer"] for e in body["errors"]] == ["/account"]
    assert rows() == before


def test_an_account_with_a_slash_can_no_longer_be_created_and_suspended(
    api: ApiCaller, db: Any
) -> None:
    """The path that once led to a suspended account the gateway could not look up."""
    problem(api.post("/signals", {"signals": [signal(1, account="org/abc")]}), 422)
    assert not Account.objects.filter(external_id="org/abc").exists()
    problem(api.get("/enforcement/org%2Fabc"), 422, "invalid_input")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(external_id=st.from_regex(EXTERNAL_ID_REGEX, fullmatch=True), quoted=st.booleans())
def test_every_accepted_id_can_be_looked_up(
    api: ApiCaller, policies: Any, external_id: str, quoted: bool
) -> None:
    """Created by billing or by a signal, an id is found by every lookup, suspended or not."""
    segment = quote(external_id, safe="") if quoted else external_id
    put = api.put(f"/accounts/{segment}", {"name": "Prop"})
    assert put.status_code in (200, 201), put.content
    assert api.get(f"/accounts/{segment}").json()["external_id"] == external_id

    by_signal = external_id[:-1] + ("a" if external_id[-1] != "a" else "b")
    posted = api.post("/signals", {"signals": [signal(1, account=by_signal, dedupe_key=segment)]})
    assert posted.status_code == 202, posted.content

    account = Account.objects.get(external_id=external_id)
    if account.enforcement_status == "active" and not account.cases.exists():
        case = case_open(account=account, summary="prop", actor=Actor.system())
        command = Suspend(reason="x", policies=["competing-model-development"])
        case_transition(case=case, command=command, actor=Actor.system())
    # Examples share the database, so an earlier example may have made either account already
    # (and opened its case): the lookup must say what the account's row says.
    for wanted in (external_id, by_signal):
        path = quote(wanted, safe="") if quoted else wanted
        found = api.get(f"/enforcement/{path}")
        assert found.status_code == 200, (wanted, found.content)
        assert found.json()["account"] == wanted
        stored = Account.objects.get(external_id=wanted).enforcement_status
        assert found.json()["status"] == stored
    checked = api.post("/enforcement/check", {"accounts": [external_id, by_signal]}).json()
    assert [(r["account"], r["known"]) for r in checked["results"]] == [
        (external_id, True),
        (by_signal, True),
    ]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(candidate=st.text(alphabet=st.characters(codec="ascii"), min_size=1, max_size=130))
@example(candidate="org/abc")
@example(candidate="a\nb")
@example(candidate="check")
def test_whatever_intake_accepts_can_be_looked_up(api: ApiCaller, candidate: str) -> None:
    posted = api.post("/signals", {"signals": [signal(1, account=candidate)]})
    if posted.status_code != 202:
        assert posted.status_code in (400, 422), posted.content
        return
    stored = candidate.strip()
    assert Account.objects.filter(external_id=stored).exists()
    found = api.get(f"/enforcement/{quote(stored, safe='')}")
    assert found.status_code == 200, (stored, found.content)
    assert found.json()["account"] == stored
    assert api.get(f"/accounts/{quote(stored, safe='')}").status_code == 200


def test_stored_ids_that_break_the_rule_are_reported(db: Any) -> None:
    """Ids stored before the rule stay (billing keys them), and the database check names them."""
    call_command("check", "--database", "default")
    Account.objects.create(external_id="org/legacy")
    with pytest.raises(SystemCheckError, match=r"accounts\.W001.*'org/legacy'"):
        call_command("check", "--database", "default", "--fail-level", "WARNING")
