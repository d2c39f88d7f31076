"""The API's JSON parser and renderer read and write what they did with Python's json alone."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.utils.functional import lazy
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail, ParseError, ValidationError
from rest_framework.utils.serializer_helpers import ReturnDict

from config.parsers import StrictJSONParser
from config.renderers import ContractJSONRenderer as JSONRenderer
from config.times import ContractJSONEncoder


class JsonModuleRenderer(renderers.JSONRenderer):
    """The renderer as it was: DRF's, through the json module, with the contract's encoder."""

    encoder_class = ContractJSONEncoder


def parse(raw: bytes) -> Any:
    return StrictJSONParser().parse(io.BytesIO(raw))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"signals": [{"n": 1, "x": -0.5e-3, "t": true, "s": "\\u00e9\\ud83d\\ude00"}]}',
        b'{"f": null, "e": {}}',
        b' \n[1, 2.0, "a\\/b", {"a": 1, "a": 2}] ',
        b"9223372036854775807",  # the largest 64-bit integer, 19 digits
        b"18446744073709551616",  # beyond 64 bits: an integer, never a float
        b"-9223372036854775809",
        b'{"id": 123456789012345678901234567890}',
        b"1e-400",
    ],
)
def test_the_parser_reads_what_json_reads(raw: bytes) -> None:
    value = parse(raw)
    expected = json.loads(raw)
    assert value == expected
    assert json.dumps(value) == json.dumps(expected)  # the same types, ints stay ints


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[1,]", "JSON parse error"),
        (b"[" * 40 + b"]" * 40, "may nest at most"),
        (b"[" * 2000 + b"]" * 2000, "may nest at most"),
        (b"\xff", "not UTF-8"),
        (b"", "JSON parse error"),
    ],
)
def test_the_parser_refuses_what_it_refused_before(raw: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(raw)


@pytest.mark.parametrize("raw", [b'"\\ud800"', b'"a\\u0000b"', b'{"k\\u0000": 1}'])
def test_text_that_cannot_be_stored_is_named(raw: bytes) -> None:
    with pytest.raises(ValidationError, match="NUL characters or lone surrogates"):
        parse(raw)


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b"[Infinity]", b'{"e": [1e400]}'])
def test_numbers_that_are_not_finite_are_still_named(raw: bytes) -> None:
    with pytest.raises(ValidationError, match="finite"):
        parse(raw)


@dataclass
class Point:
    x: int


LAZY = lazy(lambda: "lazy text", str)()


@pytest.mark.parametrize(
    "data",
    [
        {"stored": 1, "results": [{"index": 0, "signal": 5, "incidents": [], "case": None}]},
        ReturnDict({"a": [1, 2.5, True]}, serializer=None),
        {"detail": ErrorDetail("No.", code="x"), "errors": [{"field": "é", "s": "\u2028\u2029"}]},
        {
            "at": dt.datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=dt.UTC),
            "naive": dt.datetime(2026, 11, 25, 10, 0),
            "offset": dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "day": dt.date(2026, 11, 25),
            "time": dt.time(10, 30),
            "took": dt.timedelta(seconds=90),
        },
        {"amount": Decimal("1.50"), "id": uuid.UUID(int=7), "lazy": LAZY},
        {1: "int key", "tuple": (1, 2), "control": "a\nb\x1f\x7f", "big": 2**70},
        {"nested": [[[[{"deep": [1]}]]]]},
        [1, "two", None],
    ],
)
def test_the_renderer_writes_what_it_wrote_before(data: Any) -> None:
    assert JSONRenderer().render(data) == JsonModuleRenderer().render(data)


def test_the_renderer_refuses_what_it_refused_before() -> None:
    for renderer in (JSONRenderer(), JsonModuleRenderer()):
        with pytest.raises(TypeError):
            renderer.render({"point": Point(1)})


def test_indented_output_is_as_before() -> None:
    data = {"a": [1, {"b": 2}]}
    media = "application/json; indent=4"
    assert JSONRenderer().render(data, media) == JsonModuleRenderer().render(data, media)
    assert b"\n    " in JSONRenderer().render(data, media)
