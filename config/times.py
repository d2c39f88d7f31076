"""The one way a time is written in every contract: API responses, the change feed, webhook
payloads and the machine-readable parts of e-mails.

UTC, ISO 8601 with ``Z``, always to the microsecond: ``2026-11-25T10:00:00.000000Z``. The
database keeps microseconds, so a time read in one place (the lookup's ``since``) equals the same
time read in another (the feed's ``at``) character for character, and fixed-width text sorts as
the times do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder


def iso(value: datetime) -> str:
    """``value`` (aware) as contract text (four-digit years, also before 1000)."""
    text = value.astimezone(UTC).isoformat(timespec="microseconds")
    return text.removesuffix("+00:00") + "Z"


def iso_or_none(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


class ContractJSONEncoder(DjangoJSONEncoder):
    """JSON with every datetime written by :func:`iso` (the API's renderer and lean views)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return iso(o)
        return super().default(o)


def duration_human(delta: timedelta) -> str:
    """How long something took, for people: ``3 h 12 min``, ``2 d 4 h``, ``45 s``; the two
    largest units only (``1 day, 0:00:00`` tells a reader less)."""
    seconds = max(0, int(delta.total_seconds()))
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
        elif parts:
            break
    return " ".join(parts[:2])


def for_people(value: datetime | None) -> str:
    """A time as staff read it on every admin page: ``2026-11-25 10:00 UTC`` (one format, the
    zone always named); ``—`` for none."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
