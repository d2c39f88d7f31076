"""``{% linked_accounts account %}``: the "Linked accounts" block of the account and case pages."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.models import Account
from cases.evasion import account_links_get
from core.admin import is_lead

register = template.Library()


@register.inclusion_tag("admin/accounts/_linked_accounts.html", takes_context=True)
def linked_accounts(context: dict[str, Any], account: Account) -> dict[str, Any]:
    """Every account that shares identifiers with ``account`` (false positives included, marked),
    with the kinds, the other's status and cases; leads get the false-positive form. A fixed
    number of queries (``cases.evasion.links_find``)."""
    request = context.get("request")
    links = account_links_get(external_id=account.external_id, with_false_positives=True) or []
    return {
        "account": account,
        "links": links,
        "may_mark": request is not None and is_lead(request),
        "csrf_token": context.get("csrf_token"),
    }
