"""Idempotency-Key on POST /signals, POST /cases and transitions (Stripe's semantics)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from accounts.idempotency import idempotency_keys_purge
from accounts.models import Account, IdempotencyKey
from cases.models import Case, CaseEvent, PolicyClause, Signal
from cases.services import case_open
from core.actors import Actor

from .conftest import ApiCaller, problem, signal

KEY = {"Idempotency-Key": "batch-0001"}


def test_same_key_same_body_replays_the_first_response_and_changes_nothing(
    api: ApiCaller, account: Account
) -> None:
    batch = {"signals": [signal(1), signal(2)]}
    first = api.post("/signals", batch, headers=KEY)
    assert first.status_code == 202
    assert first.has_header("Idempotent-Replayed") is False
    again = api.post("/signals", batch, headers=KEY)
    assert again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert [r["status"] for r in again.json()["results"]] == ["stored", "stored"]
    assert Signal.objects.count() == 2


def test_same_key_other_body_is_422(api: ApiCaller, account: Account) -> None:
    assert api.post("/signals", {"signals": [signal(1)]}, headers=KEY).status_code == 202
    problem(
        api.post("/signals", {"signals": [signal(2)]}, headers=KEY), 422, "idempotency_key_reused"
    )
    assert Signal.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_run_once(
    require_postgres: None,
    api: ApiCaller,
    account: Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import cases.api.views as views

    entered, release = threading.Event(), threading.Event()
    real = views.signals_ingest

    def slow_ingest(**kwargs: Any) -> Any:
        entered.set()
        assert release.wait(10)
        return real(**kwargs)

    monkeypatch.setattr(views, "signals_ingest", slow_ingest)
    batch = {"signals": [signal(1)]}
    first: dict[str, Any] = {}

    def run_first() -> None:
        try:
            first["response"] = api.post("/signals", batch, headers=KEY)
        finally:
            connection.close()

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        assert entered.wait(10)
        problem(api.post("/signals", batch, headers=KEY), 409, "idempotency_key_in_flight")
    finally:
        release.set()
        thread.join(20)
    assert first["response"].status_code == 202
    assert api.post("/signals", batch, headers=KEY)["Idempotent-Replayed"] == "true"
    assert Signal.objects.count() == 1


def test_keys_belong_to_their_caller(
    make_caller: Callable[..., ApiCaller], account: Account
) -> None:
    one, two = make_caller(), make_caller()
    assert one.post("/signals", {"signals": [signal(1)]}, headers=KEY).status_code == 202
    response = two.post("/signals", {"signals": [signal(2)]}, headers=KEY)
    assert response.status_code == 202
    assert response.has_header("Idempotent-Replayed") is False


def test_errors_are_replayed_too(api: ApiCaller, account: Account) -> None:
    bad = {"signals": [signal(1, severity="nope")]}
    problem(api.post("/signals", bad, headers=KEY), 422, "invalid_signals")
    replay = api.post("/signals", bad, headers=KEY)
    problem(replay, 422, "invalid_signals")
    assert replay["Idempotent-Replayed"] == "true"


def test_server_error_releases_the_key(
    api: ApiCaller, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cases.api.views as views

    real = views.signals_ingest
    monkeypatch.setattr(views, "signals_ingest", lambda **kw: 1 / 0)
    problem(api.post("/signals", {"signals": [signal(1)]}, headers=KEY), 500)
    assert IdempotencyKey.objects.exists() is False
    monkeypatch.setattr(views, "signals_ingest", real)
    assert api.post("/signals", {"signals": [signal(1)]}, headers=KEY).status_code == 202


def test_transition_replay_does_not_transition_twice(
    api: ApiCaller, account: Account, policies: dict[str, PolicyClause]
) -> None:
    case = case_open(account=account, summary="x", actor=Actor.system())
    body = {"action": "suspend", "reason": "r", "policies": ["competing-model-development"]}
    first = api.post(f"/cases/{case.pk}/transitions", body, headers=KEY)
    again = api.post(f"/cases/{case.pk}/transitions", body, headers=KEY)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["state"] == "suspended"
    assert CaseEvent.objects.filter(case=case, action="suspend").count() == 1


def test_open_case_replay_returns_the_same_case(api: ApiCaller, account: Account) -> None:
    body = {"account": "acme-ai", "summary": "Report"}
    first = api.post("/cases", body, headers=KEY)
    again = api.post("/cases", body, headers=KEY)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert Case.objects.count() == 1


def test_the_same_key_on_another_path_is_422(api: ApiCaller, account: Account) -> None:
    api.post("/cases", {"account": "acme-ai", "summary": "Report"}, headers=KEY)
    problem(api.post("/signals", {"signals": [signal(1)]}, headers=KEY), 422)


@pytest.mark.parametrize("key", ["", " ", "k" * 256])
def test_invalid_keys_are_400(api: ApiCaller, account: Account, key: str) -> None:
    response = api.post("/signals", {"signals": [signal(1)]}, headers={"Idempotency-Key": key})
    problem(response, 400, "invalid_idempotency_key")


def test_keys_are_kept_24_hours_then_purged(api: ApiCaller, account: Account) -> None:
    api.post("/signals", {"signals": [signal(1)]}, headers=KEY)
    assert idempotency_keys_purge(now=timezone.now() + timedelta(hours=23)) == 0
    assert idempotency_keys_purge(now=timezone.now() + timedelta(hours=25)) == 1


def test_an_expired_key_runs_again(api: ApiCaller, account: Account) -> None:
    api.post("/signals", {"signals": [signal(1)]}, headers=KEY)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = api.post("/signals", {"signals": [signal(2)]}, headers=KEY)
    assert response.status_code == 202
    assert response.json()["stored"] == 1


def _claim(api: ApiCaller, path: str, body: Any, minutes_ago: int) -> None:
    from accounts.idempotency import request_fingerprint
    from accounts.models import ApiClient

    assert api.key is not None
    client = ApiClient.objects.get(key_prefix=api.key.split("_")[1])
    IdempotencyKey.objects.create(
        owner=f"client:{client.pk}",
        key=KEY["Idempotency-Key"],
        method="POST",
        path=f"/api/v1{path}",
        request_hash=request_fingerprint("POST", f"/api/v1{path}", body),
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def test_a_claim_in_flight_answers_409(api: ApiCaller, account: Account) -> None:
    body = {"signals": [signal(1)]}
    _claim(api, "/signals", body, minutes_ago=0)
    problem(api.post("/signals", body, headers=KEY), 409, "idempotency_key_in_flight")
    assert Signal.objects.exists() is False


def test_a_claim_abandoned_by_a_dead_request_is_taken_over(
    api: ApiCaller, account: Account
) -> None:
    body = {"signals": [signal(1)]}
    _claim(api, "/signals", body, minutes_ago=10)
    assert api.post("/signals", body, headers=KEY).status_code == 202
    assert Signal.objects.count() == 1
