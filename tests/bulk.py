"""Bulk rows for the tests that pin query counts at a million cases (PostgreSQL only): copies of
one account and its case, written in SQL (the ORM would take minutes)."""

from __future__ import annotations

from django.db import connection

from accounts.models import Account
from cases.models import Case


def copy_cases(template: Case, n: int, *, prefix: str, case_sql: dict[str, str]) -> None:
    """``n`` more accounts, each ``<prefix><g>`` copied from ``template``'s account, and as many
    cases copied from ``template``; ``case_sql`` replaces columns of the copy by SQL over ``a``
    (the new account) and ``t`` (the template case), ``%%`` for a literal ``%``."""
    quote = connection.ops.quote_name
    accounts = quote(Account._meta.db_table)
    cases = quote(Case._meta.db_table)
    account_columns = [f.column for f in Account._meta.concrete_fields if not f.primary_key]
    case_columns = [f.column for f in Case._meta.concrete_fields if not f.primary_key]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {accounts} ({', '.join(quote(c) for c in account_columns)}) SELECT "
            + ", ".join(
                "%s || g" if c == "external_id" else f"a.{quote(c)}" for c in account_columns
            )
            + f" FROM {accounts} a, generate_series(1, %s) g WHERE a.id = %s",
            [prefix, n, template.account_id],
        )
        cursor.execute(
            f"INSERT INTO {cases} ({', '.join(quote(c) for c in case_columns)}) SELECT "
            + ", ".join(
                {"account_id": "a.id", **case_sql}.get(c, f"t.{quote(c)}") for c in case_columns
            )
            + f" FROM {cases} t, {accounts} a WHERE t.id = %s AND a.external_id LIKE %s",
            [template.pk, f"{prefix}%"],
        )
