"""Request rate limits for the API."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class ApiRateThrottle(SimpleRateThrottle):
    """Per-caller request rate (``API_RATE_LIMIT``, e.g. ``"6000/min"``); off when unset.

    Counts live in the default cache, so the limit only holds across processes when
    ``CACHE_URL`` names a shared one. Over the limit: 429 with ``Retry-After``.
    """

    scope = "api"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        auth = request.auth
        if auth is not None and getattr(auth, "pk", None) is not None:
            ident = f"client:{auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
