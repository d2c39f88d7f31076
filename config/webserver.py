"""The HTTP server's own refusals as problem details.

gunicorn refuses some requests before Django sees them: a request line longer than
``limit_request_line`` (414), a header over ``limit_request_field_size`` or more headers than
``limit_request_fields`` (431), a request it cannot parse (400). Out of the box it answers those
with an HTML page. :class:`ProblemSyncWorker` answers them as ``application/problem+json``
like every other error of the API, with the same ``type`` and ``code`` scheme, and the schema
declares 414 and 431 on every operation. ``config/gunicorn.conf.py`` selects it.
"""

from __future__ import annotations

import json
import socket
from http import HTTPStatus
from ssl import SSLError
from typing import Any

from django.conf import settings
from gunicorn import util
from gunicorn.http.errors import (
    ConfigurationProblem,
    ExpectationFailed,
    ForbiddenProxyRequest,
    InvalidResponseHeader,
    InvalidResponseHeaderName,
    LimitRequestHeaders,
    LimitRequestLine,
    ParseException,
    UnsupportedTransferCoding,
)
from gunicorn.workers.sync import SyncWorker

# The refusals that are not a plain 400, with the code each problem carries.
STATUS_FOR_ERROR: tuple[tuple[type[BaseException], int, str], ...] = (
    (LimitRequestLine, 414, "request_line_too_long"),
    (LimitRequestHeaders, 431, "headers_too_large"),
    (ExpectationFailed, 417, "expectation_failed"),
    (UnsupportedTransferCoding, 501, "unsupported_transfer_coding"),
    (ForbiddenProxyRequest, 403, "forbidden"),
    (SSLError, 403, "forbidden"),
)
PROBLEM_TYPE_BASE = "https://tscase.example/problems/"


def problem_for(exc: BaseException) -> tuple[int, str, str]:
    """``(status, code, detail)`` for an error gunicorn met while reading or answering."""
    if isinstance(exc, InvalidResponseHeader | InvalidResponseHeaderName | ConfigurationProblem):
        return 500, "server_error", "The server failed to handle this request; it has been logged."
    for kind, status, code in STATUS_FOR_ERROR:
        if isinstance(exc, kind):
            return status, code, str(exc)
    if isinstance(exc, ParseException):
        return 400, "bad_request", f"The request could not be read: {exc}"
    return 500, "server_error", "The server failed to handle this request; it has been logged."


def problem_bytes(status: int, code: str, detail: str) -> bytes:
    """A complete HTTP/1.1 response carrying the problem; the connection closes after it."""
    base = getattr(settings, "PROBLEM_TYPE_BASE", PROBLEM_TYPE_BASE)
    body = json.dumps(
        {
            "type": f"{base}{code}",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1")
    return head + body


class ProblemSyncWorker(SyncWorker):
    """gunicorn's sync worker, answering its own refusals as problem details."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        status, code, detail = problem_for(exc)
        peer = (addr or ("", -1))[0]
        if status == 500:
            self.log.exception("Error handling request %s", getattr(req, "uri", "(no URI read)"))
        else:
            self.log.warning("Invalid request from ip=%s: %s", peer, exc)
        try:
            util.write_nonblock(client, problem_bytes(status, code, detail))
        except Exception:
            self.log.debug("Failed to send error message.")
