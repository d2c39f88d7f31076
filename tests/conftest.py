"""Shared fixtures: fixed personas, policies with versions, an account reaching the API through a
partner, and a helper to skip tests that need PostgreSQL (on SQLite only)."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from accounts.models import Account, Channel, Partner
from cases.models import PolicyClause, PolicyVersion
from core.actors import Actor

ROLES = ("analyst", "investigator", "lead", "auditor")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    """Tests create many users; the production hasher is deliberately slow."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _evidence_storage(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Evidence content goes to this run's temporary directory, never to var/evidence."""
    location = tmp_path_factory.getbasetemp() / "evidence"
    evidence = {**settings.STORAGES["evidence"]}
    if evidence["BACKEND"].endswith("FileSystemStorage"):
        evidence["OPTIONS"] = {**evidence.get("OPTIONS", {}), "location": str(location)}
        settings.STORAGES = {**settings.STORAGES, "evidence": evidence}


# --- the shared (Redis) cache in tests ------------------------------------------------------
# A Redis database may hold keys of others (the demo, another run): tests never clear it. Each
# test gets a key prefix of its own (this run's, plus a counter), so it starts from an empty
# cache without deleting anything, and afterwards deletes the keys under its prefix only.
# TEST_CACHE_KEY_PREFIX names the run's prefix (a test that runs the suite in a child uses it).

RUN_KEY_PREFIX = os.environ.get("TEST_CACHE_KEY_PREFIX") or f"tscase-test-{uuid.uuid4().hex[:12]}"
_tests = itertools.count(1)
# Where the tests that need Redis put their keys: TEST_CACHE_URL, else the CACHE_URL of the run.
TEST_REDIS_URL = (
    os.environ.get("TEST_CACHE_URL") or os.environ.get("CACHE_URL") or "redis://127.0.0.1:6379/3"
)


def redis_keys_delete(url: str, prefix: str) -> int:
    """Delete the keys under ``prefix`` (SCAN, then DEL): never a FLUSHDB. Returns how many."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(client.delete(*batch))
                batch = []
        if batch:
            deleted += int(client.delete(*batch))
    except redis.RedisError:
        return deleted  # unreachable (an outage test): nothing of ours can be there either
    finally:
        client.close()
    return deleted


def _redis_locations(settings: Any) -> set[str]:
    backend = settings.CACHES["default"]
    return {backend["LOCATION"]} if backend["BACKEND"].endswith("RedisCache") else set()


@pytest.fixture(autouse=True)
def cache_key_prefix(settings: Any) -> Iterator[str]:
    """This test's own key prefix in the shared cache, and the test's keys deleted afterwards.

    With ``CACHE_URL`` set (as in CI) the default cache is Redis: it is pointed at
    ``TEST_CACHE_URL`` when that is set, under this prefix. ``cache.clear()`` is never used: it
    flushes the whole Redis database.
    """
    prefix = f"{RUN_KEY_PREFIX}:{next(_tests)}"
    backend = settings.CACHES["default"]
    if backend["BACKEND"].endswith("RedisCache"):
        location = os.environ.get("TEST_CACHE_URL") or backend["LOCATION"]
        settings.CACHES = {"default": {**backend, "LOCATION": location, "KEY_PREFIX": prefix}}
    used = _redis_locations(settings)
    yield prefix
    for location in used | _redis_locations(settings):
        redis_keys_delete(location, prefix)


def redis_cache_use(settings: Any, prefix: str, url: str = TEST_REDIS_URL) -> None:
    """Make the default cache the Redis at ``url``, under this test's prefix; skip the test
    when Redis is not reachable, unless CI=true (then fail)."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is not reachable at {url}")
        pytest.skip(f"Redis is not reachable at {url}")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        }
    }
    settings.ENFORCEMENT_CACHE_ENABLED = True


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
    """Every test that commits (a transactional test, by marker or by the ``transactional_db``
    or ``live_server`` fixture) restores the migrated rows (groups, deadline and flag rules,
    content types) when it ends.

    A transactional test is followed by a flush of every table; without the serialized rollback
    the flush re-creates content types and permissions with new ids, and the next test that
    reloads the migrated rows (``serialized_rollback=True``, as the browser test does) collides
    with them. Restoring after each one keeps every test on the same migrated rows, whatever the
    order the suite runs in."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        fixtures = getattr(item, "fixturenames", None)
        if fixtures is None:
            continue
        transactional = "transactional_db" in fixtures or "live_server" in fixtures
        if marker is not None and (marker.kwargs.get("transaction") or marker.args[:1] == (True,)):
            transactional = True
        if transactional and "django_db_serialized_rollback" not in fixtures:
            fixtures.append("django_db_serialized_rollback")
        if transactional and marker is not None and not marker.kwargs.get("serialized_rollback"):
            # pytest-django decides which databases to serialize from the marker alone: without
            # this, a run with no test marked ``serialized_rollback=True`` restores nothing and
            # the first transactional test leaves the next ones without the migrated rows.
            kwargs = {**marker.kwargs, "serialized_rollback": True}
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)
