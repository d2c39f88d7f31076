"""Stored data (event details, signal evidence) as words for people, never as raw JSON or a
Python ``repr``: ``key: value`` pairs, lists joined with commas, nested values in parentheses,
times in the admin's one format, yes/no for booleans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from config.times import for_people


def _label(key: str) -> str:
    return str(key).replace("_", " ")


def value_in_words(value: Any) -> str:
    """One value in words."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return for_people(value)
    if isinstance(value, str):
        if len(value) >= 19 and value[4:5] == "-" and value[10:11] == "T":
            parsed = parse_datetime(value.replace("Z", "+00:00"))
            if parsed is not None and parsed.tzinfo is not None:
                return for_people(parsed)
        return value
    if isinstance(value, dict):
        return data_in_words(value)
    if isinstance(value, (list, tuple)):
        kept = [v for v in value if v not in (None, "", [], {})]
        return ", ".join(
            f"({value_in_words(v)})" if isinstance(v, dict) else value_in_words(v) for v in kept
        )
    if value is None:
        return "—"
    return str(value)


def data_in_words(data: Any) -> str:
    """A mapping as ``key: value`` pairs joined by ``; `` (empty values left out)."""
    if not isinstance(data, dict):
        return value_in_words(data) if data not in (None, "", [], {}) else ""
    parts = []
    for key, value in data.items():
        if value in (None, "", [], {}):
            continue
        shown = value_in_words(value)
        if isinstance(value, dict):
            shown = f"({shown})"
        parts.append(f"{_label(key)}: {shown}")
    return "; ".join(parts)
