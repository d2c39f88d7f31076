"""``column = ANY(array)``: a set of values as one parameter (PostgreSQL).

An ``__in`` over a batch's worth of values (hundreds of account ids or external ids) sends one
literal per value: Django prepares each, psycopg merges each into the text, and PostgreSQL
parses and plans them all. One array parameter costs the same whatever its length. On other
databases ``among`` falls back to ``__in``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Lookup, Q
from django.db.models.sql.compiler import SQLCompiler


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: BaseDatabaseWrapper) -> Any:
        return ("%s", [list(value)])

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} = ANY({rhs})", [*lhs_params, *rhs_params]


def among(column: str, values: Iterable[Any]) -> Any:
    """A filter: ``column`` is one of ``values`` (``= ANY`` on PostgreSQL, else ``IN``)."""
    values = list(values)
    if connection.vendor == "postgresql":
        return AnyOf(F(column), values)
    return Q(**{f"{column}__in": values})
