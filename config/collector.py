"""The garbage collector of a web worker, tuned for requests that allocate many objects.

A signal batch parses into some 3,000 dicts and lists, and an admin page builds as many model
instances. With CPython's default thresholds (700, 10, 10), the cycle collector runs every 700
container allocations and walks the whole heap (Django, its URL resolvers, templates, the ORM's
models) every 70,000: measured in-process, about 7 ms of every 1,000-signal batch went to it
(docs/performance.md). A worker therefore, once its application is loaded:

- moves what is alive then (the loaded application) into the permanent generation
  (``gc.freeze``), so that no collection walks it again;
- collects the young generation every ``WEB_GC_THRESHOLD`` allocations (50,000 unless set; the
  other two thresholds stay at their defaults).

Reference counting still frees almost everything at once; only garbage in reference cycles
waits a little longer. ``WEB_GC_THRESHOLD=700`` restores CPython's default.

One such cycle held every API request's parsed body: Django REST framework links the view, its
request and its response to each other (``parser_context``, ``renderer_context``), so what they
hold (a batch of 1,000 signals is some 3,000 dicts and lists) waited for the collector, and each
young-generation collection walked the bodies of a dozen requests. ``ReleaseRequestCycles``
unlinks them once the response is rendered, and reference counting frees the body then.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

DEFAULT_THRESHOLD = 50_000


def collector_tune() -> None:
    """Freeze the loaded application and raise the young generation's threshold."""
    raw = os.environ.get("WEB_GC_THRESHOLD", "").strip()
    try:
        threshold = int(raw) if raw else DEFAULT_THRESHOLD
    except ValueError:
        raise SystemExit(f"WEB_GC_THRESHOLD must be a whole number, not {raw!r}") from None
    if threshold < 1:
        raise SystemExit(f"WEB_GC_THRESHOLD must be at least 1, not {threshold}")
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)


class ReleaseRequestCycles:
    """Middleware, outermost: once an API response is rendered, drop the two links by which
    Django REST framework keeps the request, its view and the response in reference cycles
    (the request's ``parser_context`` holds the view and the request itself; the response's
    ``renderer_context`` holds the view, the request and the response). Both are only read
    while the body is parsed and the response rendered."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        context: Any = getattr(response, "renderer_context", None)
        if context and getattr(response, "is_rendered", True):
            api_request = context.get("request")
            if api_request is not None:
                api_request.parser_context = None
            response.renderer_context = None  # type: ignore[attr-defined]
        return response
