"""What the API accepts at most: one source for each limit that a parser, a serializer, the
intake, the OpenAPI schema and docs/api.md state.

Plain constants without Django imports, so that settings can read them too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Largest request body in bytes (``API_MAX_BODY_BYTES`` overrides it); answered 413 above.
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024

# Containers nested in a request body at most: ``{"signals": [{"evidence": {...}}]}`` is 3 deep
# at ``evidence``. A deeper body is malformed (400) whatever the endpoint.
MAX_JSON_DEPTH = 32
# Containers nested in a free-form JSON value (signal evidence, evidence of a transition) at
# most: ``{"a": {"b": [1]}}`` is 3 deep. Deeper is a 422 naming the field.
MAX_EVIDENCE_DEPTH = 10

# Every time the API accepts lies in [EARLIEST_TIME, LATEST_TIME) and carries a time zone.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)
TIME_RANGE_TEXT = "from 2000-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z"


def time_problem(value: datetime) -> str | None:
    """Why an API time is refused (naive, or outside the plausible range), or ``None``."""
    if value.utcoffset() is None:
        return "Must carry a time zone (Z or an offset such as +02:00)."
    try:
        if EARLIEST_TIME <= value < LATEST_TIME:
            return None
    except OverflowError:  # an offset pushing 0001-01-01 or 9999-12-31 out of range
        pass
    return f"Must be a time {TIME_RANGE_TEXT}."


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` lists and objects (walked level by level,
    without recursion, so that no depth can exhaust the stack)."""
    level: list[Any] = [value] if value.__class__ is dict or value.__class__ is list else []
    for _ in range(limit):
        if not level:
            return False
        level = [
            child
            for container in level
            for child in (container.values() if container.__class__ is dict else container)
            if child.__class__ is dict or child.__class__ is list
        ]
    return bool(level)
