"""An idle mirror's conditional poll of the change feed, answered before the framework.

A gateway's mirror asks ``GET /api/v1/enforcement/changes?after=N`` with ``If-None-Match``
every second or so, and nearly always nothing has changed. :func:`idle_poll_etag` decides
such a poll from one round trip (the key and the feed's head): when the key may read the feed
and no change has committed after ``after``, the answer is ``304 Not Modified`` with the page's
ETag. The feed's view asks it first; :class:`IdlePollShortcut` asks it at the WSGI entry, ahead
of Django's request handling and middleware, so that 100 mirrors polling once a second cost the
web tier little (docs/performance.md, "idle feed"). Anything else, and any doubt (a key that is
not plainly valid, a parameter more, a database error), goes through the whole stack as usual.

The shortcut keeps what operators read of every request: the ``X-Request-ID`` answered and
logged, the request's log line and its latency under the feed's route in ``/metrics``. A 304
carries no body, so the headers the security middleware adds to pages have nothing to act on.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import DatabaseError
from django.http.request import split_domain_port, validate_host
from django.urls import resolve, reverse

from accounts.authentication import bearer_from_header, key_hash, key_prefix
from accounts.choices import Scope
from cases.gateway_reads import feed_head_with_key
from config.db import read_with_one_retry
from config.logs import REQUEST_ID_HEADER, request_id_from, request_logged
from config.metrics import REQUEST_LATENCY

CACHE_CONTROL = "private, no-cache"
# Set in the WSGI environ (``request.META``) once the shortcut has decided a poll is not idle,
# so that the feed's view does not read the head a second time.
DECIDED = "tscase.idle_poll_decided"
FEED_PARAMETERS = frozenset({"after", "limit"})
CURSOR_TOP = 2**63 - 1
LIMIT_DEFAULT, LIMIT_TOP = 100, 1000

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def feed_etag(*, after: int, limit: int, last: int) -> str:
    """The feed page's validator: the page from ``after`` (``limit`` at most) ends at
    ``last``. A page that ends where it starts is empty; it stays so while no change
    commits after ``after``, which the conditional poll checks by the feed's head alone."""
    return f'"feed-{after}-{limit}-{last}"'


def _digits(raw: str | None, default: int, top: int) -> int | None:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= len(str(top))):
        return None
    value = int(raw)
    return value if value <= top else None


def idle_poll_etag(
    *, method: str, if_none_match: str | None, authorization: str | None, params: Mapping[str, str]
) -> str | None:
    """The ETag to answer ``304 Not Modified`` with, when this request is a conditional poll of
    an empty feed page by a key that may read the feed and no change has committed after the
    page's cursor; ``None`` for anything else, which the feed's view then answers in full."""
    if method != "GET" or not if_none_match or not params.keys() <= FEED_PARAMETERS:
        return None
    token = bearer_from_header(authorization)
    after = _digits(params.get("after"), 0, CURSOR_TOP)
    limit = _digits(params.get("limit"), LIMIT_DEFAULT, LIMIT_TOP)
    prefix = key_prefix(token) if token else None
    if after is None or not limit or prefix is None:
        return None
    etag = feed_etag(after=after, limit=limit, last=after)
    if if_none_match != etag:
        return None
    client, head = read_with_one_retry(lambda: feed_head_with_key(key_prefix=prefix))
    if (
        client is None
        or not hmac.compare_digest(client["hash"], key_hash(token or ""))
        or Scope.ENFORCEMENT_READ not in client["scopes"]
        or client["partner"] is not None
        or head > after
    ):
        return None
    return etag


class IdlePollShortcut:
    """WSGI middleware: answers an idle mirror's conditional poll (:func:`idle_poll_etag`)
    without entering Django's handler; every other request goes to ``app`` untouched."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.path = reverse("enforcement-changes")
        self.route = f"/{resolve(self.path).route}"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == self.path and environ.get("HTTP_IF_NONE_MATCH"):
            started = time.perf_counter()
            try:
                etag = self._etag(environ)
            except DatabaseError:
                etag = None  # the full stack answers, and reports, what went wrong
            else:
                environ[DECIDED] = True
            if etag is not None:
                return self._not_modified(environ, start_response, etag, started)
        return self.app(environ, start_response)

    def _etag(self, environ: Mapping[str, Any]) -> str | None:
        if not _host_allowed(environ):
            return None  # Django refuses it with its own 400
        pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        params = dict(pairs)
        if len(params) != len(pairs):
            return None  # a repeated parameter: let the view judge it
        # The connection is kept as between any two requests: a dead one is replaced by the
        # read's retry, and any other request of the worker applies CONN_MAX_AGE to it.
        return idle_poll_etag(
            method=environ.get("REQUEST_METHOD", ""),
            if_none_match=environ.get("HTTP_IF_NONE_MATCH"),
            authorization=environ.get("HTTP_AUTHORIZATION"),
            params=params,
        )

    def _not_modified(
        self,
        environ: Mapping[str, Any],
        start_response: Callable[..., Any],
        etag: str,
        started: float,
    ) -> list[bytes]:
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID"))
        start_response(
            "304 Not Modified",
            [("ETag", etag), ("Cache-Control", CACHE_CONTROL), (REQUEST_ID_HEADER, request_id)],
        )
        path = environ.get("PATH_INFO", "")
        REQUEST_LATENCY.labels(route=self.route, method="GET", status="304").observe(
            time.perf_counter() - started
        )
        request_logged(request_id, "GET", path, self.route, 304, started)
        return []


def _host_allowed(environ: Mapping[str, Any]) -> bool:
    """Django's own ``Host`` check (``ALLOWED_HOSTS``), for a request it will not see."""
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)
