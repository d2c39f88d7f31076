"""Query parameters that no admin page can use: a NUL character in any of them.

PostgreSQL text cannot hold NUL, so a list filter or search given one (``?state=%00``,
``?q=%00``) would fail in the query with a 500. The admin answers such a request by dropping
the parameters that hold NUL, redirecting to the same page and saying why, for every list,
filter and search at once (the API refuses the same with a 400 problem: ``config.problems``).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

DROPPED = "A search or filter value held a NUL character, which no value can hold; it was dropped."


class AdminQueryGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._prefix: str | None = None

    def _admin_prefix(self) -> str:
        if self._prefix is None:
            self._prefix = reverse("admin:index")
        return self._prefix

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(self._admin_prefix()):
            pairs = [(key, value) for key, values in request.GET.lists() for value in values]
            kept = [(key, value) for key, value in pairs if "\x00" not in key + value]
            if len(kept) < len(pairs):
                messages.error(request, DROPPED)
                query = f"?{urlencode(kept)}" if kept else ""
                return HttpResponseRedirect(f"{request.path}{query}")
        return self.get_response(request)
