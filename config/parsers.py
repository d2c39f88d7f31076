"""A JSON parser that refuses what the database cannot store or the service cannot walk.

- PostgreSQL text cannot hold NUL characters and UTF-8 cannot encode a lone surrogate (which
  ``json`` accepts as ``"\\ud800"``): a body holding either is well-formed JSON that cannot be
  stored, a 422 whose ``errors`` point at each such string (at the object, for a key), without
  repeating the text.
- A body nested deeper than ``MAX_JSON_DEPTH`` lists and objects is malformed too (400), found
  without recursion, before any view, serializer or fingerprint walks it.
- A number that is not finite (``1e400``, which overflows to infinity, and the ``NaN``,
  ``Infinity`` and ``-Infinity`` that Python's ``json.dumps`` writes) cannot be stored in a JSON
  column: it is a 422 whose ``errors`` point at each such number.

orjson reads the body (docs/adr/0008), but ``json`` reads it instead, and its answer (the value,
or the error) stands, for a body that orjson refuses (malformed, nested past 1,024, ``NaN`` and
numbers that are not finite, lone surrogates) and for one with a run of 19 digits or more, which
may be an integer beyond 64 bits that orjson would read as a float. Otherwise orjson accepts
nothing that ``json`` refuses and reads what both accept as the same value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import IO, Any

import orjson
from rest_framework.exceptions import ErrorDetail, ParseError, ValidationError
from rest_framework.parsers import JSONParser

from .limits import MAX_JSON_DEPTH, json_depth_exceeds

UNSTORABLE = "Text may not contain NUL characters or lone surrogates."
NOT_FINITE = "Numbers must be finite: NaN, Infinity and numbers beyond ±1.8e308 are refused."
# Digits to "0", anything else to " ": a run of 19 digits becomes a run of 19 zeros.
_DIGITS = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))
_LONG_NUMBER = b"0" * 19
_REREAD = object()  # what ``_quick`` answers for a body that ``json`` must read


def _quick(raw: bytes) -> Any:
    """orjson's reading of the body, or ``_REREAD``."""
    if raw.translate(_DIGITS).find(_LONG_NUMBER) >= 0:
        return _REREAD
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _REREAD


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unstorable(value: Any) -> Iterator[list[str | int]]:
    """The path of each string in ``value`` that is not storable text, in document order; for a
    key, the path of its object (the key itself is not repeated, nor what it holds walked)."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if not _storable(item):
                yield path
        elif isinstance(item, dict):
            if not all(_storable(k) for k in item):
                yield path
            stack.extend((v, [*path, k]) for k, v in reversed(item.items()) if _storable(k))
        elif isinstance(item, list):
            stack.extend((v, [*path, i]) for i, v in reversed(list(enumerate(item))))


def _not_finite(value: Any) -> Iterator[list[str | int]]:
    """The path of each number in ``value`` that is not finite, in document order."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                yield path
        elif isinstance(item, dict):
            stack.extend((v, [*path, k]) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((v, [*path, i]) for i, v in reversed(list(enumerate(item))))


def _errors_at(
    paths: Iterator[list[str | int]], detail: str, code: str = "invalid"
) -> dict[Any, Any]:
    """DRF's nested error detail for ``paths`` (``config.problems`` turns it into pointers)."""
    tree: dict[Any, Any] = {}
    for path in paths:
        node: Any = tree
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break  # an error of the object that holds it says enough
        else:
            node.setdefault("non_field_errors", [ErrorDetail(detail, code=code)])
    return _flatten_leaves(tree)


def _flatten_leaves(tree: dict[Any, Any]) -> dict[Any, Any]:
    """``{"a": {"non_field_errors": [e]}}`` as ``{"a": [e]}``: DRF's shape of a field's error
    (the pointer names the field); an object that has errors of its own and of its members
    keeps both."""
    flat: dict[Any, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            if list(value) == ["non_field_errors"] and key != "non_field_errors":
                flat[key] = value["non_field_errors"]
            else:
                flat[key] = _flatten_leaves(value)
        else:
            flat[key] = value
    return flat


class StrictJSONParser(JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        raw = stream.read() if stream is not None else b""
        infinite = False

        def constant(name: str) -> float:
            nonlocal infinite
            infinite = True
            return float(name)

        def number(literal: str) -> float:
            nonlocal infinite
            value = float(literal)
            if value in (math.inf, -math.inf):
                infinite = True
            return value

        deep = False
        data = _quick(raw)
        if data is _REREAD:
            # Only here is the body decoded: orjson checks UTF-8 itself, and refuses what is not.
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ParseError("The body is not UTF-8.") from None
            try:
                data = json.loads(text, parse_constant=constant, parse_float=number)
            except RecursionError:
                data = None
                deep = True
            except ValueError as exc:
                raise ParseError(f"JSON parse error - {exc}") from None
        if not deep:
            deep = json_depth_exceeds(data, MAX_JSON_DEPTH)
        if deep:
            raise ParseError(f"JSON may nest at most {MAX_JSON_DEPTH} lists and objects.")
        if b"\\u" in raw or b"\x00" in raw:
            unstorable = _errors_at(_unstorable(data), UNSTORABLE, "unstorable_text")
            if unstorable:
                raise ValidationError(unstorable)
        if infinite:
            raise ValidationError(_errors_at(_not_finite(data), NOT_FINITE))
        return data
