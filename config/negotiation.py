"""Content negotiation for the API (its own module: DRF loads it while importing its views)."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class ProblemContentNegotiation(DefaultContentNegotiation):
    """An unknown ``?format=`` is a 406 like an unacceptable ``Accept``, not DRF's 404."""

    def filter_renderers(self, renderers: Any, format: str) -> Any:
        try:
            return super().filter_renderers(renderers, format)
        except Http404:
            raise NotAcceptable(f"No representation in format '{format}'.") from None
