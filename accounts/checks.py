"""``manage.py check --database default`` (and ``migrate``, which runs it): stored external ids
that break the external id rule.

The rule (accounts/external_ids.py) applies to every id that enters; ids stored before it was
set are kept as they are (they are the billing system's keys, and signals, cases and enforcement
changes point at them), but the API refuses them. This check names them so that an operator can
rename each one in billing and then in the admin.
"""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import DatabaseError

from .external_ids import EXTERNAL_ID_REGEX, RULE
from .models import Account

SHOWN = 20


@checks.register(checks.Tags.database)
def stored_external_ids_check(databases: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for alias in databases or ():
        breaking = Account.objects.using(alias).exclude(external_id__regex=EXTERNAL_ID_REGEX)
        try:
            count = breaking.count()
            shown = list(breaking.order_by("pk").values_list("external_id", flat=True)[:SHOWN])
        except DatabaseError:  # not migrated yet: nothing is stored
            continue
        if count:
            listed = ", ".join(repr(i) for i in shown) + (" ..." if count > SHOWN else "")
            messages.append(
                checks.Warning(
                    f"{count} stored account external id(s) break the rule and are refused by "
                    f"the API: {listed}",
                    hint=f"{RULE} Rename them in billing, then in the admin.",
                    obj=alias,
                    id="accounts.W001",
                )
            )
    return messages
