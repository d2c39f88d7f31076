"""URL path converters (no Django or DRF imports: the settings read them too)."""

from __future__ import annotations

from typing import Any


class IdConverter:
    """``<id:name>`` in a URL: a row id, at most 18 digits (within 64-bit integers), so that an
    id no row can have is a 404 rather than an overflow in the database."""

    regex = "[0-9]{1,18}"
    # What drf-spectacular declares for it (settings: PATH_CONVERTER_OVERRIDES).
    schema: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
