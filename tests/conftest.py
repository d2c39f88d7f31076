"""Shared fixtures: fixed personas, policies with versions, an account reaching the API through a
partner, and a helper to skip tests that need PostgreSQL (on SQLite only)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from accounts.models import Account, Channel, Partner
from cases.actors import Actor
from cases.models import PolicyClause, PolicyVersion

ROLES = ("analyst", "investigator", "lead", "auditor")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Tests create many users; the production hasher is deliberately slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_shared_cache(settings: Any) -> None:
    """With CACHE_URL set (as in CI), each test starts from an empty shared cache: the test
    database is rebuilt between tests, so entries from an earlier test would be stale."""
    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        from django.core.cache import cache

        cache.clear()


def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def require_postgres() -> None:
    """Locking, concurrency and feed tests run on PostgreSQL; they skip on SQLite only."""
    if not on_postgres():
        if os.environ.get("DATABASE_URL", "").startswith("postgres"):
            pytest.fail("DATABASE_URL points at PostgreSQL but the connection is not PostgreSQL")
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")


def make_user(role: str | None, username: str | None = None) -> User:
    name = username or (role or "nobody")
    user = User.objects.create_user(
        username=name, email=f"{name}@tns.example", password="pw-" + name, is_staff=True
    )
    if role:
        # get_or_create: a transactional test before this one may have flushed the groups
        # that the roles migration created.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


@pytest.fixture
def users(db: Any) -> dict[str, User]:
    return {role: make_user(role) for role in ROLES}


@pytest.fixture
def actors(users: dict[str, User]) -> dict[str, Actor]:
    result = {role: Actor.for_user(user) for role, user in users.items()}
    result["system"] = Actor.system("test")
    return result


def make_policy(code: str, versions: int = 2, severity: str = "high") -> PolicyClause:
    clause = PolicyClause.objects.create(
        code=code, title=code.replace("-", " ").title(), severity=severity, current_version=versions
    )
    for n in range(1, versions + 1):
        PolicyVersion.objects.create(
            policy=clause,
            version=n,
            title=clause.title,
            text=f"Clause {code}, version {n}: customers must not do this.",
            severity=severity,
        )
    return clause


@pytest.fixture
def policies(db: Any) -> dict[str, PolicyClause]:
    return {
        code: make_policy(code) for code in ("competing-model-development", "rate-limit-evasion")
    }


@pytest.fixture
def partner(db: Any) -> Partner:
    return Partner.objects.create(code="cloudco", name="CloudCo", kind="cloud")


@pytest.fixture
def account(db: Any, partner: Partner) -> Account:
    acct = Account.objects.create(
        external_id="acme-ai", name="Acme AI", contacts=["legal@acme.test", "cto@acme.test"]
    )
    Channel.objects.create(account=acct, partner=partner)
    return acct


# --- Celery in tests --------------------------------------------------------------------------
# How tests run tasks: task functions are called directly (``notice_send(notice_id)`` runs one
# attempt in the test process); nothing runs eagerly. So that a test that commits (transactional
# tests, ``django_capture_on_commit_callbacks(execute=True)``) never leaves messages in the demo's
# broker, every test publishes to Celery's in-memory broker unless it switches with
# ``celery_use_broker`` (the PostgreSQL + Redis tests of notifications do, to run real workers).


def celery_use_broker(url: str, transport_options: dict[str, Any] | None = None) -> None:
    """Point this process's Celery app at another broker (drops pooled connections)."""
    from kombu import pools

    from config.celery import app

    pools.reset()  # kombu caches producer pools per broker URL, across apps
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    app.conf.broker_url = url
    # Celery prefers the CELERY_BROKER_URL environment variable to broker_url, but not to
    # broker_write_url: publishing goes where this says even when the variable is set.
    app.conf.broker_write_url = url
    app.conf.broker_transport_options = transport_options or {}


@pytest.fixture(autouse=True)
def celery_memory_broker() -> Any:
    from config.celery import app
    from notifications.tasks import breaker_reset

    url, options = app.conf.broker_url, app.conf.broker_transport_options
    celery_use_broker("memory://")
    breaker_reset()
    yield
    celery_use_broker(url, options)
    app.conf.broker_write_url = None
    breaker_reset()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every transactional test restores the migrated data (groups, deadline rules, flag rules)
    after its flush, so tests that follow see the same database whatever the order."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None:
            continue
        wants_transaction = marker.kwargs.get("transaction") or (marker.args and marker.args[0])
        if wants_transaction and not marker.kwargs.get("serialized_rollback"):
            item.add_marker(
                pytest.mark.django_db(
                    *marker.args[1:],
                    **{**marker.kwargs, "transaction": True, "serialized_rollback": True},
                ),
                append=False,
            )
