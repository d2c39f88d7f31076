"""Template filters of the admin: the one time format and stored data in words."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template

from cases.readable import data_in_words, value_in_words
from config.times import duration_human, for_people

register = template.Library()


@register.filter
def when(value: datetime | str | None) -> str:
    """``2026-11-25 10:00 UTC`` (from a datetime or contract text)."""
    if isinstance(value, datetime) or value is None:
        return for_people(value)
    return value_in_words(value)


@register.filter
def words(value: Any) -> str:
    """Stored data (a mapping, a list) in words."""
    return data_in_words(value)


@register.filter
def duration(value: timedelta | None) -> str:
    """``3 h 12 min``."""
    return duration_human(value) if isinstance(value, timedelta) else "—"
