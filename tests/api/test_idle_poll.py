"""An idle mirror's conditional poll, answered at the WSGI entry (``config.wsgi.application``)
ahead of Django's handler: the same answer as the full stack gives, from one query, with the
request's id, log line and latency kept; anything else, and any doubt, left to the full stack.

Transactional: a request the WSGI entry leaves to Django ends as in production
(``close_old_connections``), which a test's enclosing transaction would not survive.
"""

from __future__ import annotations

import gc
import io
import logging
from collections.abc import Iterator
from typing import Any
from unittest import mock
from wsgiref.util import setup_testing_defaults

import pytest
from django.core.signals import request_started
from django.db import DatabaseError, connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.api import idle_poll
from accounts.services import api_client_create, api_client_revoke
from cases.models import EnforcementChange
from config.logs import RequestIdFilter
from config.metrics import REQUEST_LATENCY

from .test_gateway_api import restrict

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/api/v1/enforcement/changes"
ROUTE = "/api/v1/enforcement/changes"


@pytest.fixture(scope="module", autouse=True)
def wsgi_entry() -> Iterator[None]:
    """``config.wsgi`` tunes the collector as it loads (config/collector.py): undone after."""
    threshold = gc.get_threshold()
    import config.wsgi  # noqa: F401

    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def wsgi_get(query: str, **headers: str) -> tuple[int, dict[str, str], bytes, int]:
    """``(status, headers, body, Django requests started)`` of a GET through the WSGI entry."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": PATH,
        "QUERY_STRING": query,
        "HTTP_HOST": "testserver",
        "wsgi.input": io.BytesIO(b""),
    }
    environ.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
    setup_testing_defaults(environ)
    answered: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> None:
        answered["status"] = int(status.split()[0])
        answered["headers"] = dict(response_headers)

    started: list[object] = []

    def count(**_: Any) -> None:
        started.append(1)

    from config.wsgi import application

    request_started.connect(count)
    try:
        chunks = application(environ, start_response)
        body = b"".join(chunks)
        getattr(chunks, "close", lambda: None)()
    finally:
        request_started.disconnect(count)
    return answered["status"], answered["headers"], body, len(started)


def full_stack_status(query: str, **headers: str) -> int:
    """The status Django's own stack (the test client) answers the same request with."""
    params = dict(p.split("=", 1) for p in query.split("&")) if query else None
    return int(Client(raise_request_exception=False).get(PATH, params, headers=headers).status_code)


@pytest.fixture
def idle(policies: Any) -> dict[str, Any]:
    """A feed with one change, a reader's key, and the ETag of the empty page after it."""
    restrict("acme-ai")
    _, key = api_client_create(name="mirror", scopes=["enforcement:read"])
    head = EnforcementChange.objects.latest("seq").seq
    bearer = f"Bearer {key}"
    status, headers, _, _ = wsgi_get(f"after={head}", Authorization=bearer)
    assert status == 200
    return {"key": key, "bearer": bearer, "head": head, "etag": headers["ETag"]}


def _count_304() -> float:
    for metric in REQUEST_LATENCY.collect():
        for sample in metric.samples:
            if sample.name.endswith("_count") and sample.labels == {
                "route": ROUTE,
                "method": "GET",
                "status": "304",
            }:
                return sample.value
    return 0.0


def test_an_idle_poll_is_answered_before_django_from_one_query(
    idle: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    counted = _count_304()
    caplog.set_level(logging.INFO, logger="tscase.request")
    caplog.handler.addFilter(RequestIdFilter())  # as the service's log handlers have
    with CaptureQueriesContext(connection) as queries:
        status, headers, body, django_requests = wsgi_get(
            f"after={idle['head']}",
            Authorization=idle["bearer"],
            If_None_Match=idle["etag"],
            X_Request_ID="poll-7",
        )
    assert (status, body, django_requests) == (304, b"", 0)
    assert headers["ETag"] == idle["etag"]
    assert headers["Cache-Control"] == "private, no-cache"
    assert headers["X-Request-ID"] == "poll-7"
    assert len(queries) == 1
    # What operators read of every request is kept: its latency and its log line.
    assert _count_304() == counted + 1
    [line] = [r for r in caplog.records if r.name == "tscase.request"]
    assert line.getMessage() == f"GET {PATH} 304"
    assert getattr(line, "route", None) == ROUTE
    assert getattr(line, "request_id", None) == "poll-7"


def test_a_change_after_the_cursor_goes_to_the_full_feed(idle: dict[str, Any]) -> None:
    restrict("evil-co")
    status, headers, body, django_requests = wsgi_get(
        f"after={idle['head']}", Authorization=idle["bearer"], If_None_Match=idle["etag"]
    )
    assert (status, django_requests) == (200, 1)
    assert b"evil-co" in body
    assert headers["ETag"] != idle["etag"]


def test_a_poll_that_is_not_idle_reads_the_head_once(idle: dict[str, Any]) -> None:
    restrict("evil-co")
    with mock.patch.object(
        idle_poll, "feed_head_with_key", wraps=idle_poll.feed_head_with_key
    ) as head_read:
        status, _, body, _ = wsgi_get(
            f"after={idle['head']}", Authorization=idle["bearer"], If_None_Match=idle["etag"]
        )
    assert status == 200
    assert b"evil-co" in body
    assert head_read.call_count == 1  # the view does not ask again what the entry asked


@pytest.mark.parametrize(
    "variant",
    ["revoked", "no scope", "wrong etag", "extra parameter", "repeated", "bad host"],
)
def test_anything_but_a_plain_idle_poll_gets_the_full_stacks_answer(
    idle: dict[str, Any], variant: str
) -> None:
    query = f"after={idle['head']}"
    headers = {"Authorization": idle["bearer"], "If-None-Match": idle["etag"]}
    if variant == "revoked":
        _, key = api_client_create(name="gone", scopes=["enforcement:read"])
        api_client_revoke(name="gone")
        headers["Authorization"] = f"Bearer {key}"
    elif variant == "no scope":
        _, key = api_client_create(name="writer", scopes=["signals:write"])
        headers["Authorization"] = f"Bearer {key}"
    elif variant == "wrong etag":
        headers["If-None-Match"] = '"feed-0-100-0"'
    elif variant == "extra parameter":
        query += "&format=json"
    elif variant == "repeated":
        query += f"&after={idle['head']}"
    elif variant == "bad host":
        headers["Host"] = "evil.example"
    wsgi_headers = {k.replace("-", "_"): v for k, v in headers.items()}
    status, _, _, django_requests = wsgi_get(query, **wsgi_headers)
    assert django_requests == 1, "left to the full stack"
    assert status == full_stack_status(query, **headers)


def test_a_database_error_leaves_the_poll_to_the_full_stack(idle: dict[str, Any]) -> None:
    real = idle_poll.feed_head_with_key
    calls: list[int] = []

    def flaky(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseError("the shortcut's read failed")
        return real(**kwargs)

    with mock.patch.object(idle_poll, "feed_head_with_key", flaky):
        status, headers, _, django_requests = wsgi_get(
            f"after={idle['head']}", Authorization=idle["bearer"], If_None_Match=idle["etag"]
        )
    # Django's view answered it (its own conditional check), and nothing was lost.
    assert (status, django_requests, len(calls)) == (304, 1, 2)
    assert headers["ETag"] == idle["etag"]
