"""Shared pieces of the REST API: cursor pages, filters that fail as problems, and the strict
request fields and bodies whose OpenAPI schema states exactly what they accept.

A request body is a :class:`StrictSerializer`: a field it does not declare is refused (422),
and its schema says ``additionalProperties: false``. Its scalar fields take the JSON type the
schema declares and nothing else: no number read as a string, no ``"true"`` read as a boolean.
Text may not hold NUL characters (PostgreSQL cannot store them; the JSON parser refuses them
with a 422 before a field sees them) and, unless it may be blank, must hold a character that is
not white space. The patterns below say so in the schema (``config.openapi``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from django_filters import ChoiceFilter
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

from .limits import TIME_RANGE_TEXT, time_problem
from .problems import InvalidQuery

INVALID_CURSOR = "Invalid cursor: pass a `next` or `previous` link's cursor unchanged."

# Text without NUL. Python's ``str.strip()`` also takes U+001C..U+001F for white space, which
# ECMA-262's ``\s`` does not: they are named so that both readings of the pattern agree.
NO_NUL_PATTERN = r"^[^\u0000]*$"
NONEMPTY_NO_NUL_PATTERN = r"^[^\u0000]+$"
NONBLANK_PATTERN = r"^[^\u0000]*[^\u0000\s\u001c-\u001f][^\u0000]*$"
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"


class CursorPage(CursorPagination):
    """``?cursor=`` and ``?limit=`` (1 to ``max_page_size``); answers ``{next, previous,
    results}``. A limit that is not such a number is a 400 ``invalid_query``.

    A cursor is ``n`` (the rows after a position) or ``p`` (the rows before it), then the
    position (the ordering field of the row at the edge of the page; none at either end), then
    ``~`` and an offset when rows share a position. Any text that matches ``cursor_pattern`` is
    a valid cursor, and the schema declares that pattern; anything else is a 400.
    """

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering: str | tuple[str, ...] = "-id"
    # An id: at most 18 digits, so that it stays within the database's 64-bit integers.
    position_pattern = r"0|[1-9][0-9]{0,17}"

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param or "limit")
        if raw is None:
            return int(self.page_size)
        top = int(self.max_page_size or self.page_size)
        digits = raw.isascii() and raw.isdigit() and len(raw) <= len(str(top))
        if not (digits and 1 <= int(raw) <= top):
            detail = f"Must be a whole number from 1 to {top}."
            raise InvalidQuery({self.page_size_query_param: [detail]})
        return int(raw)

    @classmethod
    def cursor_pattern(cls) -> str:
        return rf"^([np]({cls.position_pattern})?(~[0-9]{{1,4}})?)?$"

    def decode_cursor(self, request: Request) -> Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if not encoded:
            return None
        if not re.fullmatch(self.cursor_pattern()[1:-1], encoded):
            raise InvalidQuery({self.cursor_query_param: [INVALID_CURSOR]})
        head, _, offset = encoded[1:].partition("~")
        return Cursor(
            offset=min(int(offset or 0), self.offset_cutoff),
            reverse=encoded[0] == "p",
            # DRF keeps the position as text (the stubs say int).
            position=cast(Any, self.position_from_text(head) if head else None),
        )

    def position_from_text(self, text: str) -> str:
        """The position a cursor's text stands for, as the ordering field's filter takes it."""
        return text

    def position_to_text(self, position: str) -> str:
        return position

    def encode_cursor(self, cursor: Cursor) -> str:
        position: str | None = cast(Any, cursor.position)
        encoded = ("p" if cursor.reverse else "n") + (
            self.position_to_text(position) if position is not None else ""
        )
        if cursor.offset:
            encoded += f"~{cursor.offset}"
        return str(replace_query_param(self.base_url or "", self.cursor_query_param, encoded))

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": int(self.max_page_size or self.page_size),
                    "default": int(self.page_size),
                }
            if parameter["name"] == self.cursor_query_param:
                parameter["description"] = (
                    "The `next` or `previous` link of an earlier page carries it; a value "
                    "that does not match the pattern is a 400 `invalid_query`."
                )
                parameter["schema"] = {"type": "string", "pattern": self.cursor_pattern()}
        return parameters


class OldestFirstCursorPage(CursorPage):
    ordering = "id"


class ProblemFilterBackend(DjangoFilterBackend):
    """django-filter, with invalid filter values answered as a 400 problem."""

    def filter_queryset(
        self, request: Request, queryset: QuerySet[Any], view: Any
    ) -> QuerySet[Any]:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        # django-filter reads an empty value as "no filter"; for a filter whose values are a
        # list (the schema's ``enum``), an empty one is none of them.
        empty = {
            name: ["Must be one of the listed values, not empty."]
            for name, field in filterset.filters.items()
            if isinstance(field, ChoiceFilter) and request.query_params.get(name) == ""
        }
        if empty:
            raise InvalidQuery(empty)
        if not filterset.is_valid():
            raise InvalidQuery(filterset.errors)
        result: QuerySet[Any] = filterset.qs
        return result


# --- request bodies -----------------------------------------------------------------------------


class StrictSerializer(serializers.Serializer[Any]):
    # A request body that refuses the fields it does not declare (422 ``unknown_field``). No
    # docstring: drf-spectacular would show it as every subclass's description.

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [ErrorDetail("Unknown field.", code="unknown_field")]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


class TextField(serializers.CharField):
    """A JSON string, trimmed; never a number or a boolean read as one. Not blank unless
    ``allow_blank``; NUL characters are refused. ``max_length`` bounds the string as sent,
    before trimming, as the schema's ``maxLength`` says."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if "\x00" in data:
            raise serializers.ValidationError(
                "May not contain NUL characters.", code="null_characters"
            )
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return str(super().to_internal_value(data))

    @property
    def pattern(self) -> str:
        # Where blank text is allowed, drf-spectacular offers "" as a second alternative of a
        # ``oneOf``; the pattern then takes the non-empty strings only, so that "" matches
        # exactly one of the two.
        return NONEMPTY_NO_NUL_PATTERN if self.allow_blank else NONBLANK_PATTERN


class SlugTextField(TextField):
    """A code: letters, digits, ``-`` and ``_``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(
            RegexValidator(
                re.compile(SLUG_PATTERN), "Letters, digits, '-' and '_' only.", code="invalid"
            )
        )

    @property
    def pattern(self) -> str:
        return SLUG_PATTERN


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false`` only, not ``"true"``, ``1`` or ``"yes"``."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only, not ``"5"``, ``5.0`` or ``true``."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter: ASCII digits (a ``-`` before them where negative values are
    allowed), present and not empty. DRF's own field reads ``?limit=`` as absent and takes
    ``+5``, `` 5`` or ``5.0``; the schema says integer."""

    def get_value(self, dictionary: Any) -> Any:
        if getattr(dictionary, "get", None) and dictionary.get(self.field_name) == "":
            return ""  # given, and empty: refused below, not replaced by the default
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> int:
        if not (isinstance(data, str) and re.fullmatch(r"-?[0-9]{1,20}", data)):
            self.fail("invalid")
        return int(super().to_internal_value(data))


class StrictDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry a time zone and lie in the plausible range
    (config/limits.py); DRF's own field reads a naive time as UTC and takes any year."""

    default_error_messages = {
        "naive": "Must carry a time zone (Z or an offset such as +02:00).",
        "range": f"Must be a time {TIME_RANGE_TEXT}.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", f"ISO 8601 with a time zone, {TIME_RANGE_TEXT}.")
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> datetime:
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None  # DRF's own message follows
            if parsed is not None and parsed.utcoffset() is None:
                self.fail("naive")
        elif isinstance(value, datetime) and value.utcoffset() is None:
            self.fail("naive")
        result: datetime = super().to_internal_value(value)
        if time_problem(result) is not None:
            self.fail("range")
        return result


class _IdField(forms.IntegerField):
    """A whole number; given but empty (``?case=``) is an error, not "no filter"."""

    def clean(self, value: Any) -> Any:
        if value == "":
            raise forms.ValidationError("Give a whole number from 1.", code="invalid")
        return super().clean(value)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
class IdFilter(django_filters.NumberFilter):
    """A filter on a row id: a whole number from 1, as the schema says."""

    field_class = _IdField

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(**kwargs)
