"""Logging helpers: a refused request is one line, a server error keeps its traceback; every
request has an id (``X-Request-ID``) that its log lines and the logs of the Celery tasks it
causes carry; ``LOG_FORMAT=json`` writes one JSON object a line (docs/operations.md, "Logs")."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter

from config.times import iso


class ClientErrorsOneLine(logging.Filter):
    """Drop the traceback Django attaches to a 4xx it logs (``PermissionDenied``,
    ``SuspiciousOperation``, ``BadRequest``): a refusal is expected, and its traceback reads as
    a failure. 5xx records keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True


# --- request ids ------------------------------------------------------------------------------

REQUEST_ID_HEADER = "X-Request-ID"
# The Celery message header that carries it into the tasks a request causes.
TASK_HEADER = "x_request_id"
# An incoming id is kept when it is short printable text: a UUID, a trace id, a proxy's hex.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")
NO_REQUEST = "-"

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_from(incoming: str | None) -> str:
    """The id of a request: the caller's ``X-Request-ID`` when it is sane, else a new one."""
    if incoming is not None and _SANE_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def request_id_current() -> str | None:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Puts the current request id (``-`` outside a request and its tasks) on every record the
    handler writes, as ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or NO_REQUEST
        return True


class JsonLogFormatter(JsonFormatter):
    """One JSON object a line (``LOG_FORMAT=json``): ``time`` (config.times), ``level``,
    ``logger``, ``message``, ``request_id`` and whatever the call passed in ``extra``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s %(request_id)s")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = iso(datetime.fromtimestamp(record.created, tz=UTC))
        super().add_fields(log_data, record, message_dict)


REQUEST_LOGGER = logging.getLogger("tscase.request")


class RequestIdMiddleware:
    """Gives each request its id (``request_id_from``), answers it in ``X-Request-ID`` and logs
    the request's line (``tscase.request``: method, path, route, status, duration)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            match = getattr(request, "resolver_match", None)
            route = f"/{match.route}" if match is not None and match.route else None
            _request_line(request.method or "", request.path, route, response.status_code, started)
            return response
        finally:
            request_id_var.reset(token)


def _request_line(method: str, path: str, route: str | None, status: int, started: float) -> None:
    REQUEST_LOGGER.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )


def request_logged(
    request_id: str, method: str, path: str, route: str | None, status: int, started: float
) -> None:
    """The request's log line, for a request answered outside the middleware (the feed's idle
    poll, ``accounts.api.idle_poll``), under its id as the middleware would log it."""
    token = request_id_var.set(request_id)
    try:
        _request_line(method, path, route, status, started)
    finally:
        request_id_var.reset(token)


# --- into the Celery tasks a request causes ----------------------------------------------------


def task_publish_header(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """``before_task_publish``: a task sent while a request (or a task it caused) runs carries
    its id."""
    current = request_id_var.get()
    if headers is not None and current and TASK_HEADER not in headers:
        headers[TASK_HEADER] = current


def task_started(task: Any = None, **_: Any) -> None:
    """``task_prerun``: the task's logs carry the id of the request that caused it, if any."""
    incoming = getattr(getattr(task, "request", None), TASK_HEADER, None)
    request_id_var.set(incoming if isinstance(incoming, str) and incoming else None)


def task_finished(**_: Any) -> None:
    """``task_postrun``: the next task on this worker starts without an id."""
    request_id_var.set(None)
