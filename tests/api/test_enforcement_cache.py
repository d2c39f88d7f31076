"""The shared (Redis) enforcement cache: 0 queries on a hit, invalidated on every change.

Uses the Redis that TEST_CACHE_URL names (else CACHE_URL, else db 3 on localhost), under the
test's own key prefix: it deletes only its own keys. Skips when Redis is not reachable, unless
CI=true (then it fails).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.cache import cache_fill, cache_get, enforcement_invalidate, enforcement_key
from accounts.models import Account, ApiClient
from accounts.services import api_client_revoke
from cases.actions import Dismiss, Investigate, Suspend, Terminate
from cases.models import PolicyClause
from cases.services import case_open, case_transition
from core.actors import Actor
from tests.conftest import TEST_REDIS_URL, redis_cache_use, redis_keys_delete

from .conftest import ApiCaller, problem


@pytest.fixture
def shared_cache(settings: Any, cache_key_prefix: str) -> None:
    redis_cache_use(settings, cache_key_prefix)


def flush(prefix: str) -> None:
    """Forget what this test cached (its own keys only)."""
    redis_keys_delete(TEST_REDIS_URL, prefix)


@pytest.fixture
def gateway(shared_cache: None, make_caller: Callable[..., ApiCaller]) -> ApiCaller:
    return make_caller("enforcement:read", name="gateway")


def status_of(caller: ApiCaller) -> str:
    response = caller.get("/enforcement/acme-ai")
    assert response.status_code == 200, response.content
    return str(response.json()["status"])


def test_cached_account_and_key_take_no_query(
    gateway: ApiCaller, account: Account, django_assert_num_queries: Any
) -> None:
    assert status_of(gateway) == "active"
    with django_assert_num_queries(0):
        assert status_of(gateway) == "active"


def test_suspension_and_reinstatement_are_seen_on_the_next_request(
    gateway: ApiCaller,
    account: Account,
    policies: dict[str, PolicyClause],
    django_capture_on_commit_callbacks: Any,
) -> None:
    actor = Actor.system()
    case = case_open(account=account, summary="x", actor=actor)
    assert status_of(gateway) == "active"
    with django_capture_on_commit_callbacks(execute=True):
        case_transition(
            case=case,
            command=Suspend(reason="r", policies=["competing-model-development"]),
            actor=actor,
        )
    assert status_of(gateway) == "suspended"
    assert status_of(gateway) == "suspended"
    with django_capture_on_commit_callbacks(execute=True):
        case_transition(
            case=case, command=Investigate(findings="f", violation_confirmed=False), actor=actor
        )
    assert status_of(gateway) == "suspended"
    with django_capture_on_commit_callbacks(execute=True):
        case_transition(case=case, command=Dismiss(reason="none"), actor=actor)
    assert status_of(gateway) == "active"


def test_termination_is_seen_on_the_next_request(
    gateway: ApiCaller,
    account: Account,
    policies: dict[str, PolicyClause],
    django_capture_on_commit_callbacks: Any,
    cache_key_prefix: str,
) -> None:
    actor = Actor.system()
    case = case_open(account=account, summary="x", actor=actor)
    case_transition(
        case=case,
        command=Suspend(reason="r", policies=["competing-model-development"]),
        actor=actor,
    )
    case_transition(
        case=case, command=Investigate(findings="f", violation_confirmed=True), actor=actor
    )
    flush(cache_key_prefix)
    assert status_of(gateway) == "suspended"
    with django_capture_on_commit_callbacks(execute=True):
        case_transition(case=case, command=Terminate(rationale="done"), actor=actor)
    assert status_of(gateway) == "terminated"


def test_revoked_key_is_refused_on_the_next_request(
    gateway: ApiCaller, account: Account, django_capture_on_commit_callbacks: Any
) -> None:
    assert status_of(gateway) == "active"
    with django_capture_on_commit_callbacks(execute=True):
        api_client_revoke(name=ApiClient.objects.get().name)
    problem(gateway.get("/enforcement/acme-ai"), 401)


def test_a_read_from_before_the_commit_cannot_refill_the_cache(shared_cache: None) -> None:
    key = enforcement_key("acme-ai")
    usable, seen = cache_get(key)
    assert usable is False
    enforcement_invalidate(["acme-ai"])  # a commit lands between the read and the fill
    cache_fill(key, seen, [b"stale", '"etag"'])
    assert cache_get(key)[0] is False


def test_cache_outage_falls_back_to_the_database(
    gateway: ApiCaller, account: Account, settings: Any
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    assert status_of(gateway) == "active"
