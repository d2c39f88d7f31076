"""Big lists are not counted row by row when unfiltered; queues are counted exactly."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Case
from core import admin as core_admin
from core.admin import EstimatedCountPaginator
from tests.admin.conftest import MakeCase


def test_filtered_and_small_lists_are_counted_exactly(make_case: MakeCase) -> None:
    for _ in range(3):
        make_case("flagged")

    assert EstimatedCountPaginator(Case.objects.all(), 50).count == 3
    assert EstimatedCountPaginator(Case.objects.filter(state="flagged"), 50).count == 3
    assert EstimatedCountPaginator(Case.objects.filter(state="dismissed"), 50).count == 0


def test_unfiltered_huge_list_uses_the_planner_estimate(
    require_postgres: None, make_case: MakeCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(4):
        make_case("flagged")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")
    monkeypatch.setattr(core_admin, "ESTIMATE_ABOVE", 1)
    captured: list[Any] = []

    with CaptureQueriesContext(connection) as queries:
        count = EstimatedCountPaginator(Case.objects.all(), 50).count
        captured.extend(q["sql"] for q in queries.captured_queries)

    assert count == 4
    assert len(captured) == 1
    assert "reltuples" in captured[0]
    assert "COUNT" not in captured[0].upper()
