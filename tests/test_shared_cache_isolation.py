"""Tests never wipe data they did not create: a run of the cache tests leaves the other keys of
its Redis database alone, and takes its own keys away.

Runs the shared-cache tests in a child pytest (SQLite in a temporary directory, the Redis that
TEST_CACHE_URL names) beside a key another program put in the same database. Skips when Redis
is not reachable, unless CI=true (then it fails).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parent.parent
CHILD_TESTS = ["tests/api/test_enforcement_cache.py", "tests/api/test_enforcement_api.py"]


@pytest.fixture
def redis_client() -> Any:
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is not reachable at {TEST_REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {TEST_REDIS_URL}")
    yield client
    client.close()


def test_a_test_run_leaves_foreign_keys_alone(redis_client: Any, tmp_path: Path) -> None:
    mine = uuid.uuid4().hex[:8]
    # Keys of someone else: a plain one, and one a Django cache with another prefix wrote.
    foreign = [f"someone-else:{mine}", f"demo:1:enf:v1:{mine}"]
    for key in foreign:
        redis_client.set(key, "theirs")
    child_prefix = f"tscase-test-child-{mine}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL") and not k.startswith("PYTEST_")
    }
    env.update(
        CACHE_URL=TEST_REDIS_URL,
        TEST_CACHE_URL=TEST_REDIS_URL,
        TEST_CACHE_KEY_PREFIX=child_prefix,
        VAR_DIR=str(tmp_path / "var"),
    )
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *CHILD_TESTS],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        survivors = [key for key in foreign if redis_client.get(key) == b"theirs"]
        left_over = list(redis_client.scan_iter(match=f"{child_prefix}:*"))
    finally:
        redis_client.delete(*foreign)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "skipped" not in run.stdout  # the cache tests really ran against this Redis
    assert survivors == foreign
    assert left_over == []
