"""A JSON parser that refuses what the database cannot store.

PostgreSQL text cannot hold NUL characters and UTF-8 cannot encode a lone surrogate (which
``json`` accepts as ``"\\ud800"``). Both are refused here as malformed JSON (400), so that no
view or service meets them later as a 500.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _reject_constant(name: str) -> Any:
    raise ParseError(f"JSON may not contain {name}.")


def _clean(value: Any) -> bool:
    """Whether every string in ``value`` is storable text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return False
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


class StrictJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("The body is not UTF-8.") from None
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if ("\\u" in text or "\x00" in text) and not _clean(data):
            raise ParseError("JSON strings may not contain NUL characters or lone surrogates.")
        return data
