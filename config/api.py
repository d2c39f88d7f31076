"""Shared pieces of the REST API: cursor pages and filters that fail as problems."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from .problems import InvalidQuery


class CursorPage(CursorPagination):
    """``?cursor=`` and ``?limit=`` (1 to 200); answers ``{next, previous, results}``."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    ordering = "-id"

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise InvalidQuery({"cursor": ["Invalid cursor."]}) from None


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
