"""Shared pieces of the REST API: cursor pages, filters and fields that fail as problems."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from django.utils.dateparse import parse_datetime
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from .limits import TIME_RANGE_TEXT, time_problem
from .problems import InvalidQuery

INVALID_CURSOR = "Invalid cursor: pass a `next` or `previous` link's cursor unchanged."


class CursorPage(CursorPagination):
    """``?cursor=`` and ``?limit=`` (1 to ``max_page_size``); answers ``{next, previous,
    results}``. A limit that is not such a number, or a cursor this list did not hand out, is a
    400 ``invalid_query`` naming the parameter."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering: str | list[str] | tuple[str, ...] = "-id"
    _model: type[Model] | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        self._model = queryset.model  # the cursor's position is checked against its field
        return super().paginate_queryset(queryset, request, view)

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

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise InvalidQuery({self.cursor_query_param: [INVALID_CURSOR]}) from None
        if cursor is not None and cursor.position is not None:
            self._check_position(str(cursor.position))
        return cursor

    def _check_position(self, position: str) -> None:
        """A cursor's position must be a value of the field the list is ordered by: anything
        else (``p=abc`` on a list ordered by id) would fail in the query."""
        order = self.ordering[0] if isinstance(self.ordering, list | tuple) else self.ordering
        name = str(order).lstrip("-")
        if self._model is None or "__" in name:
            return
        try:
            field = self._model._meta.get_field(name)
        except FieldDoesNotExist:
            return
        try:
            if "\x00" in position:
                raise DjangoValidationError("NUL")
            value = field.to_python(position)  # type: ignore[union-attr]
            if value is None:
                raise DjangoValidationError("empty")
            field.run_validators(value)  # type: ignore[union-attr]
            if isinstance(value, datetime) and time_problem(value) is not None:
                raise DjangoValidationError("out of range")
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            raise InvalidQuery({self.cursor_query_param: [INVALID_CURSOR]}) from None

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
        if not filterset.is_valid():
            raise InvalidQuery(filterset.errors)
        result: QuerySet[Any] = filterset.qs
        return result


class StrictCharField(serializers.CharField):
    """A string field that refuses numbers and booleans instead of converting them."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


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
