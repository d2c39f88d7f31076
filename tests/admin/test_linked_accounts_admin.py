"""Linked accounts on the account and case pages, false positives, and the tuning models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Account, AccountLinkDismissal, CommonDomain, IdentifierKindSetting
from cases.evasion import account_put
from cases.models import Case, CaseEvent, PolicyClause
from tests.cases.services.helpers import case_in_state
from tests.conftest import make_user

CARD = {"kind": "payment_fingerprint", "value": "fp_9Zq81LmT"}


@pytest.fixture
def linked(db: Any, policies: dict[str, PolicyClause]) -> tuple[Account, Account]:
    globex, _ = account_put(external_id="globex", name="Globex", identifiers=[CARD])
    case_in_state(globex, "terminated")
    newco, _ = account_put(external_id="newco", identifiers=[CARD])
    return globex, newco


def account_url(account: Account) -> str:
    return reverse("admin:accounts_account_change", args=[account.pk])


def mark_url(account: Account, other: Account) -> str:
    return reverse("admin:accounts_account_link_false_positive", args=[account.pk, other.pk])


@pytest.mark.parametrize("role", ["analyst", "investigator", "lead", "auditor"])
def test_the_account_page_shows_linked_accounts_to_every_role(
    login: Callable[[str], Client], linked: tuple[Account, Account], role: str
) -> None:
    _, newco = linked
    page = login(role).get(account_url(newco)).content.decode()
    assert "Linked accounts" in page
    assert "globex" in page and "payment_fingerprint" in page and "terminated" in page
    assert ("Mark false positive" in page) is (role == "lead")
    assert "fp_9Zq81LmT" not in page


def test_the_case_page_shows_the_accounts_links(
    login: Callable[[str], Client], linked: tuple[Account, Account]
) -> None:
    case = Case.objects.get(account=linked[1], state="flagged")
    page = login("analyst").get(reverse("admin:cases_case_change", args=[case.pk])).content
    assert b"Linked accounts" in page and b"payment_fingerprint" in page


def test_a_lead_marks_a_link_false_positive_from_the_account_page(
    login: Callable[[str], Client], linked: tuple[Account, Account]
) -> None:
    globex, newco = linked
    response = login("lead").post(mark_url(newco, globex), {"reason": "Shared reseller card"})
    assert response.status_code == 302
    dismissal = AccountLinkDismissal.objects.get()
    assert (dismissal.low_id, dismissal.high_id) == (globex.pk, newco.pk)
    assert dismissal.reason == "Shared reseller card"
    assert CaseEvent.objects.filter(action="link_false_positive").count() == 1
    page = login("lead").get(account_url(newco)).content.decode()
    assert "<strong>marked</strong>" in page


@pytest.mark.parametrize("role", ["analyst", "investigator", "auditor"])
def test_only_a_lead_may_mark_a_false_positive(
    login: Callable[[str], Client], linked: tuple[Account, Account], role: str
) -> None:
    globex, newco = linked
    response = login(role).post(mark_url(newco, globex), {"reason": "no"})
    assert response.status_code == 403
    assert AccountLinkDismissal.objects.exists() is False
    assert CaseEvent.objects.filter(action="link_false_positive").exists() is False


def test_a_false_positive_without_a_reason_is_refused(
    login: Callable[[str], Client], linked: tuple[Account, Account]
) -> None:
    globex, newco = linked
    response = login("lead").post(mark_url(newco, globex), {"reason": "  "}, follow=True)
    assert b"Say why" in response.content
    assert AccountLinkDismissal.objects.exists() is False


def test_the_account_page_reads_links_in_constant_queries(
    login: Callable[[str], Client], linked: tuple[Account, Account]
) -> None:
    client = login("lead")
    _, newco = linked
    client.get(account_url(newco))
    with CaptureQueriesContext(connection) as few:
        client.get(account_url(newco))
    for n in range(5):
        account_put(external_id=f"more-{n}", identifiers=[CARD])
    with CaptureQueriesContext(connection) as more:
        client.get(account_url(newco))
    assert len(more) == len(few)


def test_a_lead_adds_a_common_domain_and_it_stops_matching(
    login: Callable[[str], Client], db: Any, policies: dict[str, PolicyClause]
) -> None:
    mail = {"kind": "email_domain", "value": "ops@mail.bigmail.test"}
    fingerprint = {"kind": "api_key_fingerprint", "value": "abcdef0001"}
    globex, _ = account_put(external_id="globex", identifiers=[mail, fingerprint])
    client = login("lead")
    add = reverse("admin:accounts_commondomain_add")
    assert client.post(add, {"domain": "WWW.BigMail.test", "note": "x"}).status_code == 302
    assert CommonDomain.objects.filter(domain="bigmail.test").exists()
    setting = IdentifierKindSetting.objects.get(kind="api_key_fingerprint")
    change = reverse("admin:accounts_identifierkindsetting_change", args=[setting.pk])
    assert client.post(change, {"strength": "ignored"}).status_code == 302
    case_in_state(globex, "terminated")
    account_put(external_id="newco", identifiers=[mail, fingerprint])
    assert Case.objects.filter(account__external_id="newco").exists() is False


def test_an_analyst_cannot_edit_the_tuning(login: Callable[[str], Client], db: Any) -> None:
    client = login("analyst")
    response = client.post(reverse("admin:accounts_commondomain_add"), {"domain": "x.test"})
    assert response.status_code == 403
    assert CommonDomain.objects.filter(domain="x.test").exists() is False


@pytest.mark.parametrize("role", ["analyst", "auditor"])
def test_the_evasion_queue_lists_open_evasion_cases_most_urgent_first(
    login: Callable[[str], Client], linked: tuple[Account, Account], role: str
) -> None:
    account_put(external_id="zeta", identifiers=[CARD])
    url = reverse("admin:accounts_account_evasion_queue")
    page = login(role).get(url).content.decode()
    assert "Ban evasion queue" in page
    rows = page.split('id="ts-evasion-queue"')[1]
    assert rows.index("newco") < rows.index("zeta")
    assert "globex" in rows and "payment_fingerprint" in rows


def test_the_evasion_queue_leaves_out_other_cases_and_closed_ones(
    login: Callable[[str], Client], linked: tuple[Account, Account]
) -> None:
    url = reverse("admin:accounts_account_evasion_queue")
    rows = login("lead").get(url).content.decode().split('id="ts-evasion-queue"')[1]
    assert ">globex</a>" not in rows  # its terminated case is no evasion case
    assert "newco" in rows


def test_the_evasion_queue_needs_a_staff_role(client: Client, db: Any) -> None:
    url = reverse("admin:accounts_account_evasion_queue")
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(make_user(None, "no-role"))
    assert client.get(url).status_code == 403
