"""The gateway's side of the service (gateway.md): the authorization check that Envoy, NGINX and
Traefik call, the snapshot a mirror starts from, and the feed's conditional polls and
retention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account
from accounts.services import api_client_create
from cases.actions import RestrictionSpec, Suspend
from cases.models import Decision, EnforcementChange
from cases.services import case_open, case_transition
from core.actors import Actor
from tests.audit.test_audit_trail import guard_bypassed

from .conftest import ApiCaller

AUTHZ = "/api/v1/gateway/authz"


def restrict(
    external_id: str, spec: RestrictionSpec | None = None, duration: timedelta | None = None
) -> Decision:
    account, _ = Account.objects.get_or_create(external_id=external_id)
    case = case_open(account=account, summary="gateway", actor=Actor.system())
    case_transition(
        case=case,
        command=Suspend(
            reason="r",
            policies=["rate-limit-evasion"],
            restriction=spec or RestrictionSpec(),
            duration=duration,
        ),
        actor=Actor.system(),
    )
    return Decision.objects.get(case=case, kind__in=("suspend", "restrict"))


@pytest.fixture
def gateway_key(db: Any) -> str:
    _, key = api_client_create(name="edge", scopes=["enforcement:read"])
    return key


@pytest.fixture
def ask(gateway_key: str) -> Callable[..., Any]:
    client = Client(raise_request_exception=False)

    def run(account: str | None, method: str = "get", path: str = AUTHZ, **headers: str) -> Any:
        sent = {"x-tns-key": gateway_key, **headers}
        if account is not None:
            sent["x-account-id"] = account
        sent = {k: v for k, v in sent.items() if v is not None}
        return getattr(client, method)(path, headers=sent)

    return run


def test_an_active_and_an_unknown_account_pass(ask: Callable[..., Any], policies: Any) -> None:
    Account.objects.create(external_id="good-co")
    restrict("other-co")
    head = EnforcementChange.objects.latest("seq").seq
    for account, status in (("good-co", "active"), ("never-seen", "unknown")):
        response = ask(account)
        assert response.status_code == 200, response.content
        assert response["x-tns-status"] == status
        assert response["x-tns-feed-seq"] == str(head)
        assert "x-tns-reason" not in response


def test_a_suspended_account_is_refused_with_the_decision_to_contest(
    ask: Callable[..., Any], policies: Any
) -> None:
    decision = restrict("acme-ai")
    response = ask("acme-ai", x_model="gpt-x")
    assert response.status_code == 403
    assert response["x-tns-status"] == "suspended"
    assert response["x-tns-reason"] == "suspended"
    assert response["x-tns-decision"] == decision.reference
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert (body["status"], body["code"], body["decision"]) == (
        403,
        "suspended",
        decision.reference,
    )
    assert decision.reference in body["detail"]


def test_a_model_block_refuses_only_that_model(ask: Callable[..., Any], policies: Any) -> None:
    decision = restrict("acme-ai", RestrictionSpec(kind="model_block", models=["gpt-x"]))
    refused = ask("acme-ai", **{"x-model": "GPT-X "})
    assert refused.status_code == 403
    assert (refused["x-tns-reason"], refused["x-tns-decision"]) == (
        "model_blocked",
        decision.reference,
    )
    for headers in ({"x-model": "gpt-y"}, {}):
        allowed = ask("acme-ai", **headers)
        assert allowed.status_code == 200
        assert allowed["x-tns-status"] == "restricted"


def test_a_feature_block_refuses_only_that_feature(ask: Callable[..., Any], policies: Any) -> None:
    restrict("acme-ai", RestrictionSpec(kind="feature_block", features=["fine_tuning"]))
    assert ask("acme-ai", **{"x-feature": "fine_tuning"})["x-tns-reason"] == "feature_blocked"
    assert ask("acme-ai", **{"x-feature": "batch"}).status_code == 200


def test_a_rate_limit_passes_with_the_limit(ask: Callable[..., Any], policies: Any) -> None:
    restrict(
        "acme-ai",
        RestrictionSpec(kind="rate_limit", requests_per_minute=10, tokens_per_minute=20000),
    )
    response = ask("acme-ai")
    assert response.status_code == 200
    assert response["x-tns-status"] == "restricted"
    assert response["x-tns-rate-limit"] == "rpm=10, tpm=20000"


def test_a_restriction_past_its_end_no_longer_refuses_before_any_job(
    ask: Callable[..., Any], policies: Any
) -> None:
    restrict("acme-ai", duration=timedelta(days=1))
    assert ask("acme-ai").status_code == 403
    Account.objects.filter(external_id="acme-ai").update(
        enforcement_restrictions=[
            {
                **Account.objects.get(external_id="acme-ai").enforcement_restrictions[0],
                "ends_at": "2020-01-01T00:00:00.000000Z",
            }
        ]
    )
    response = ask("acme-ai")
    assert response.status_code == 200
    assert response["x-tns-status"] == "active"


def test_any_method_and_sub_path_as_envoy_sends_it(ask: Callable[..., Any], policies: Any) -> None:
    """Envoy's HTTP ext_authz: the original method and path after the ``path_prefix``, the
    allowed headers copied, no body."""
    restrict("acme-ai")
    for method in ("get", "post", "put", "delete", "head", "options", "patch"):
        response = ask("acme-ai", method=method, path=f"{AUTHZ}/v1/chat/completions")
        assert response.status_code == 403, (method, response.status_code)
        assert response["x-tns-reason"] == "suspended"


def test_the_check_is_one_round_trip(ask: Callable[..., Any], policies: Any) -> None:
    restrict("acme-ai", RestrictionSpec(kind="model_block", models=["gpt-x"]))
    with CaptureQueriesContext(connection) as queries:
        assert ask("acme-ai", **{"x-model": "gpt-x"}).status_code == 403
    assert len(queries) == 1


@pytest.mark.parametrize(
    ("account", "key", "status", "code"),
    [
        (None, "ok", 400, "account_id_missing"),
        ("   ", "ok", 400, "account_id_missing"),
        ("bad id\u0000", "ok", 400, "invalid_account_id"),
        ("acme-ai", None, 401, "not_authenticated"),
        ("acme-ai", "tsk_nope", 401, None),
        ("acme-ai", "scope", 403, None),
    ],
)
def test_bad_requests_are_clear_problems(
    db: Any, gateway_key: str, account: str | None, key: str | None, status: int, code: str | None
) -> None:
    keys = {
        "ok": gateway_key,
        "scope": api_client_create(name="no-scope", scopes=["cases:read"])[1],
        "tsk_nope": "tsk_nope",
        None: None,
    }
    headers = {"x-tns-key": keys[key], "x-account-id": account}
    response = Client(raise_request_exception=False).get(
        AUTHZ, headers={k: v for k, v in headers.items() if v is not None}
    )
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert "x-tns-reason" not in response
    if code:
        assert response.json()["code"] == code


# --- the snapshot --------------------------------------------------------------------------------


def snapshot(api: ApiCaller) -> list[dict[str, Any]]:
    response = api.get("/enforcement/snapshot")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    body = b"".join(response.streaming_content)
    return [orjson.loads(line) for line in body.splitlines()]


def test_the_snapshot_lists_every_account_not_active_with_its_cursor(
    api: ApiCaller, policies: Any
) -> None:
    Account.objects.create(external_id="good-co")
    blocked = restrict("acme-ai", RestrictionSpec(kind="model_block", models=["gpt-x"]))
    restrict("evil-co")
    head, *rows, end = snapshot(api)
    assert head["cursor"] == str(EnforcementChange.objects.latest("seq").seq)
    assert head["accounts"] == 2 == end["accounts"]
    assert end == {"end": True, "accounts": 2, "cursor": head["cursor"]}
    by_account = {r["account"]: r for r in rows}
    assert set(by_account) == {"acme-ai", "evil-co"}
    assert by_account["acme-ai"]["status"] == "restricted"
    [restriction] = by_account["acme-ai"]["restrictions"]
    assert (restriction["kind"], restriction["models"], restriction["decision"]) == (
        "model_block",
        ["gpt-x"],
        blocked.reference,
    )
    assert by_account["evil-co"]["status"] == "suspended"


def test_the_snapshot_needs_the_enforcement_scope(
    make_caller: Callable[..., ApiCaller], anonymous: ApiCaller
) -> None:
    assert make_caller("cases:read").get("/enforcement/snapshot").status_code == 403
    assert anonymous.get("/enforcement/snapshot").status_code == 401


def test_the_snapshot_reads_in_a_constant_number_of_queries(api: ApiCaller, policies: Any) -> None:
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            snapshot(api)
        return len(queries)

    restrict("one")
    count()  # the first request of a connection may run the health check's SELECT 1
    few = count()
    for n in range(5):
        restrict(f"more-{n}")
    count()
    assert count() == few


# --- the feed: conditional polls and retention ----------------------------------------------------


def test_an_idle_poll_is_a_304_from_one_query(api: ApiCaller, policies: Any) -> None:
    restrict("acme-ai")
    head = EnforcementChange.objects.latest("seq").seq
    first = api.get("/enforcement/changes", after=str(head))
    assert first.status_code == 200
    assert first.json()["results"] == []
    etag = first["ETag"]
    with CaptureQueriesContext(connection) as queries:
        again = api.get("/enforcement/changes", headers={"If-None-Match": etag}, after=str(head))
    assert again.status_code == 304
    assert again["ETag"] == etag
    assert len(queries) == 1
    # A change commits: the same poll gets it.
    restrict("evil-co")
    moved = api.get("/enforcement/changes", headers={"If-None-Match": etag}, after=str(head))
    assert moved.status_code == 200
    [change] = moved.json()["results"]
    assert change["account"] == "evil-co"
    assert moved["ETag"] != etag


def test_a_page_with_changes_is_never_a_304(api: ApiCaller, policies: Any) -> None:
    restrict("acme-ai")
    page = api.get("/enforcement/changes", after="0")
    assert page.json()["results"]
    repeat = api.get("/enforcement/changes", headers={"If-None-Match": page["ETag"]}, after="0")
    assert repeat.status_code == 200
    assert repeat.json()["results"] == page.json()["results"]


def test_a_cursor_behind_the_retention_is_a_410(
    api: ApiCaller, policies: Any, settings: Any
) -> None:
    restrict("acme-ai")
    restrict("evil-co")
    old, recent = EnforcementChange.objects.order_by("seq")
    # The first change was made 40 days ago (the guard forbids editing it: go around it).
    with guard_bypassed(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE cases_enforcementchange SET at = %s WHERE id = %s",
            [timezone.now() - timedelta(days=40), old.pk],
        )
    settings.ENFORCEMENT_FEED_RETENTION = timedelta(days=30)
    response = api.get("/enforcement/changes", after="0")
    assert response.status_code == 410
    assert response.json()["code"] == "cursor_expired"
    # A reader that had read past the old change goes on.
    assert api.get("/enforcement/changes", after=str(old.seq)).json()["results"][0]["seq"] == (
        recent.seq
    )


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_replaced_without_failing_a_read(
    require_postgres: None, policies: Any, gateway_key: str
) -> None:
    """The hot reads skip the health check's extra round trip; a connection that died under
    them (a database restart) is replaced and the read runs again, so no request fails."""
    import psycopg

    restrict("acme-ai")
    client = Client(raise_request_exception=False)
    ask = {"x-tns-key": gateway_key, "x-account-id": "acme-ai"}
    bearer = {"Authorization": f"Bearer {gateway_key}"}
    head = EnforcementChange.objects.latest("seq").seq
    etag = client.get("/api/v1/enforcement/changes", {"after": head}, headers=bearer)["ETag"]
    reads = {
        "authz": lambda: client.get(AUTHZ, headers=ask).status_code,
        "lookup": lambda: client.get("/api/v1/enforcement/acme-ai", headers=bearer).status_code,
        "poll": lambda: (
            client.get(
                "/api/v1/enforcement/changes",
                {"after": head},
                headers={**bearer, "If-None-Match": etag},
            ).status_code
        ),
    }
    expected = {"authz": 403, "lookup": 200, "poll": 304}
    settings_dict = connection.settings_dict
    for name, read in reads.items():
        assert read() == expected[name]
        pid = connection.connection.info.backend_pid
        with psycopg.connect(
            host=settings_dict["HOST"] or "127.0.0.1",
            port=int(settings_dict["PORT"] or 5432),
            user=settings_dict["USER"],
            dbname=settings_dict["NAME"],
            autocommit=True,
        ) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert read() == expected[name], name
        assert connection.connection.info.backend_pid != pid
