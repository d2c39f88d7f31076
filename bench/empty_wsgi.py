"""The least a WSGI app can do for a conditional poll: answer 304 at once, with no framework,
no database and no check. The idle-feed benchmark serves the same polls from it to show what
the HTTP server itself costs (bench/benchmarks.py, ``idle_feed``)."""

from collections.abc import Callable, Iterable
from typing import Any


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response(
        "304 Not Modified",
        [("ETag", environ.get("HTTP_IF_NONE_MATCH", "")), ("Cache-Control", "private, no-cache")],
    )
    return []
