"""Every request has an id: the caller's sane ``X-Request-ID`` or a new one, answered in the
response, written in the request's log line and in the logs of the Celery tasks it causes;
``LOG_FORMAT=json`` writes each line as one JSON object."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import before_task_publish
from django.test import Client

from accounts.models import Account
from accounts.services import api_client_create
from cases.models import PolicyClause
from cases.services import case_open
from config.celery import app
from config.logs import TASK_HEADER, RequestIdFilter, request_id_from, request_id_var
from core.actors import Actor
from notifications.models import Notice
from tests.api.conftest import ALL_SCOPES, ApiCaller

ROOT = Path(__file__).resolve().parents[2]
TASK_LOGGER = "tests.request_id.task"


class Records(logging.Handler):
    """The records a logger handles, each with the request id the console handler would add."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestIdFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.mark.parametrize(
    "incoming",
    ["3f2a1c9e-7d4b-4e8a-9c1f-2b3d4e5f6a7b", "req-42", "00-4bf92f3577b34da6-00f067aa0ba902b7-01"],
)
def test_a_sane_incoming_id_is_kept(db: None, incoming: str, records: Records) -> None:
    response = Client().get("/healthz", headers={"X-Request-ID": incoming})
    assert response["X-Request-ID"] == incoming
    [line] = [r for r in records.records if r.name == "tscase.request"]
    assert line.request_id == incoming  # type: ignore[attr-defined]
    assert (line.method, line.path, line.status) == ("GET", "/healthz", 200)  # type: ignore[attr-defined]
    assert line.route == "/healthz"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "incoming", ["", " ", "a b", "x" * 129, "<script>", "-leading-dash", "é", "a\tb"]
)
def test_an_insane_incoming_id_is_replaced(incoming: str) -> None:
    made = request_id_from(incoming)
    assert made != incoming and len(made) == 32 and int(made, 16) >= 0


def test_without_an_id_one_is_made_per_request(db: None) -> None:
    first = Client().get("/healthz")["X-Request-ID"]
    second = Client().get("/no-such-page")["X-Request-ID"]
    assert len(first) == len(second) == 32 and first != second
    assert request_id_var.get() is None


def test_json_lines(tmp_path: Path) -> None:
    """The settings as production reads them: ``LOG_FORMAT=json`` in the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL")}
    env.update(LOG_FORMAT="json", VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    script = (
        "import django, logging; django.setup(); from django.test import Client; "
        "Client().get('/healthz', headers={'X-Request-ID': 'req-json-1'}); "
        "logging.getLogger('outside').warning('no request here')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    [request] = [line for line in lines if line["logger"] == "tscase.request"]
    assert request["request_id"] == "req-json-1"
    assert request["level"] == "INFO" and request["message"] == "GET /healthz 200"
    assert request["status"] == 200 and request["route"] == "/healthz"
    assert request["time"].endswith("Z")
    assert len(request["time"]) == len("2026-01-01T00:00:00.000000Z")
    [outside] = [line for line in lines if line["logger"] == "outside"]
    assert outside["request_id"] == "-"


def test_the_tasks_a_request_causes_carry_its_id(
    transactional_db: None, policies: dict[str, PolicyClause]
) -> None:
    """A suspension over the API writes notices and queues them when it commits: each task
    message it sends carries the request's id."""
    account = Account.objects.create(external_id="acme-ai", name="Acme", contacts=["a@acme.test"])
    case = case_open(account=account, summary="s", actor=Actor.system())
    _, key = api_client_create(name="t", scopes=list(ALL_SCOPES), role="lead")
    published: list[dict[str, Any]] = []

    def seen(headers: dict[str, Any] | None = None, **_: Any) -> None:
        published.append(dict(headers or {}))

    before_task_publish.connect(seen, weak=False)
    try:
        response = ApiCaller(Client(), key).post(
            f"/cases/{case.pk}/transitions",
            {"action": "suspend", "reason": "r", "policies": ["competing-model-development"]},
            headers={"X-Request-ID": "req-suspend-7"},
        )
    finally:
        before_task_publish.disconnect(seen)
    assert response.status_code == 200, response.content
    assert Notice.objects.exists()
    assert published, "no task was sent"
    assert {h.get(TASK_HEADER) for h in published} == {"req-suspend-7"}


@app.task(name="tests.request_id.child")
def _child() -> None:
    logging.getLogger(TASK_LOGGER).info("child")


@app.task(name="tests.request_id.parent")
def _parent() -> None:
    logging.getLogger(TASK_LOGGER).info("parent")
    _child.delay()


def test_a_worker_logs_with_the_id_of_the_request_that_caused_the_task(
    transactional_db: None,
) -> None:
    """A real worker (in this process, on the in-memory broker) runs a task sent during a
    request and the task it sends in turn: both log with the request's id; a task sent outside
    any request logs with none."""
    records = Records()
    # Worker and sender on the same in-memory broker, whatever the run's CELERY_BROKER_URL.
    saved = (app.conf.broker_read_url, app.conf.broker_write_url)
    app.conf.broker_read_url = app.conf.broker_write_url = "memory://"
    try:
        _run_worker(records)
    finally:
        app.conf.broker_read_url, app.conf.broker_write_url = saved
    logged = [r for r in records.records if r.name == TASK_LOGGER]
    ids = sorted((r.getMessage(), r.request_id) for r in logged)  # type: ignore[attr-defined]
    assert ids == [("child", "-"), ("child", "req-task-9"), ("parent", "req-task-9")]


def _run_worker(records: Records) -> None:
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        # After the worker's start, which configures logging anew.
        logging.getLogger(TASK_LOGGER).addHandler(records)
        token = request_id_var.set("req-task-9")
        try:
            _parent.delay()
        finally:
            request_id_var.reset(token)
        _child.delay()
        _wait_for(records, 3)
    logging.getLogger(TASK_LOGGER).removeHandler(records)


def _wait_for(records: Records, n: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len([r for r in records.records if r.name == TASK_LOGGER]) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the worker did not run the tasks")
