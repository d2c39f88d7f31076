"""A refused request is logged as one line, once, without a traceback; a 500 keeps its own."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from config.logs import ClientErrorsOneLine


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What every console handler on the path of ``django.request`` writes (the root's and
    any left on the ``django`` logger), in one buffer."""
    buffer = io.StringIO()
    handlers = []
    for name in ("django.request", "django", ""):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler:
                handlers.append((handler, handler.setStream(buffer)))
    assert handlers, "no console handler is configured"
    yield buffer
    for handler, stream in handlers:
        handler.setStream(stream)


def request_lines(console: io.StringIO) -> list[str]:
    """The request log's lines (``tscase.request``, one per request)."""
    return [line for line in console.getvalue().splitlines() if " tscase.request " in line]


def refusal_lines(console: io.StringIO) -> list[str]:
    """Every other line: the refusal's."""
    return [line for line in console.getvalue().splitlines() if " tscase.request " not in line]


def test_a_403_in_the_admin_is_one_line_without_traceback(
    client: Client, users: dict[str, Any], settings: Any, console: io.StringIO
) -> None:
    settings.DEBUG = True  # as under make run, where Django's own handler printed it again
    client.force_login(users["auditor"])

    response = client.get("/admin/cases/flagrule/add/")

    lines = refusal_lines(console)
    assert response.status_code == 403
    assert len(lines) == 1, console.getvalue()
    assert lines[0].endswith(
        "WARNING django.request Forbidden (Permission denied): /admin/cases/flagrule/add/"
    )
    # Besides it, the request's own line, with the same request id.
    [line] = request_lines(console)
    request_id = response["X-Request-ID"]
    assert f"[{request_id}] INFO tscase.request GET /admin/cases/flagrule/add/ 403" in line
    assert f"[{request_id}] WARNING" in lines[0]


def test_a_403_of_the_api_is_one_line(client: Client, settings: Any, console: io.StringIO) -> None:
    settings.DEBUG = True

    response = client.get("/api/v1/cases", headers={"Authorization": "Bearer nope"})

    lines = refusal_lines(console)
    assert response.status_code in (401, 403)
    assert len(lines) == 1, console.getvalue()
    assert len(request_lines(console)) == 1
    assert "Traceback" not in console.getvalue()


def test_a_server_error_keeps_its_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", (), None)
        record.exc_info = sys.exc_info()
    record.status_code = 500
    refused = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "x", (), None)
    refused.exc_info = record.exc_info
    refused.status_code = 403

    assert ClientErrorsOneLine().filter(record) and record.exc_info is not None
    assert ClientErrorsOneLine().filter(refused) and refused.exc_info is None
