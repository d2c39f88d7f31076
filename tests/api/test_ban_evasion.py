"""Ban evasion through the API: identifiers on PUT /accounts, matching, GET .../links."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Account, AccountIdentifier, AccountLinkDismissal, CommonDomain
from cases.evasion import SIGNAL_KIND, account_link_dismiss
from cases.models import Case, CaseEvent, Signal
from core.actors import Actor
from core.errors import Forbidden
from tests.cases.services.helpers import case_in_state

from .conftest import ApiCaller, problem

pytestmark = pytest.mark.usefixtures("policies")

CARD = {"kind": "payment_fingerprint", "value": "fp_9Zq81LmT"}
DOMAIN = {"kind": "org_domain", "value": "globex.test"}


def put(api: ApiCaller, external_id: str, *identifiers: dict[str, str], **fields: Any) -> Any:
    response = api.put(f"/accounts/{external_id}", {**fields, "identifiers": list(identifiers)})
    assert response.status_code in (200, 201), response.content
    return response


def terminated(api: ApiCaller, external_id: str, *identifiers: dict[str, str]) -> Account:
    put(api, external_id, *identifiers, name="Globex")
    account = Account.objects.get(external_id=external_id)
    case_in_state(account, "terminated")
    account.refresh_from_db()
    assert account.enforcement_status == "terminated"
    return account


def evasion_signals(external_id: str) -> list[Signal]:
    return list(Signal.objects.filter(account__external_id=external_id, kind=SIGNAL_KIND))


def test_a_new_account_with_a_terminated_accounts_card_is_flagged_within_the_request(
    api: ApiCaller, db: None
) -> None:
    terminated(api, "globex", CARD, DOMAIN)

    put(api, "globex-ml", CARD, name="Globex ML", contacts=["trust@globex-ml.test"])

    [signal] = evasion_signals("globex-ml")
    assert signal.severity == "high"
    assert signal.evidence == {
        "restricted_account": "globex",
        "restricted_status": "terminated",
        "restricted_case": Account.objects.get(external_id="globex").enforcement_case_id,
        "kinds": ["payment_fingerprint"],
        "strength": "strong",
    }
    assert "fp_9Zq81LmT" not in str(signal.evidence) + signal.summary
    case = Case.objects.get(account__external_id="globex-ml", state="flagged")
    assert case.priority == "high"
    evidence = case.evidence.get()
    assert evidence.reference == "account globex"
    assert "payment_fingerprint" in evidence.description
    # Nothing is restricted automatically.
    assert api.get("/enforcement/globex-ml").json()["status"] == "active"


def test_an_old_account_is_flagged_when_the_account_it_shares_a_card_with_is_terminated(
    api: ApiCaller, db: None
) -> None:
    put(api, "old-co", CARD, name="Old Co")
    put(api, "globex", CARD, name="Globex")
    assert evasion_signals("old-co") == []

    case_in_state(Account.objects.get(external_id="globex"), "terminated")

    [signal] = evasion_signals("old-co")
    assert signal.evidence["restricted_account"] == "globex"
    assert Case.objects.filter(account__external_id="old-co", state="flagged").exists()


def test_a_suspension_matches_as_well(api: ApiCaller, db: None) -> None:
    put(api, "old-co", CARD)
    put(api, "globex", CARD)
    case_in_state(Account.objects.get(external_id="globex"), "suspended")
    assert evasion_signals("old-co")[0].evidence["restricted_status"] == "suspended"


def test_a_free_mail_domain_never_matches(api: ApiCaller, db: None) -> None:
    assert CommonDomain.objects.filter(domain="gmail.com").exists()
    mail = {"kind": "email_domain", "value": "ceo@gmail.com"}
    ip = {"kind": "ip_prefix", "value": "198.51.100.7"}
    terminated(api, "globex", mail, ip)

    put(api, "newco", mail, ip)

    assert evasion_signals("newco") == []
    assert api.get("/accounts/newco/links").json()["results"][0]["kinds"] == ["ip_prefix"]


def test_the_common_domains_are_hashed_once_and_an_edit_counts_at_once(
    api: ApiCaller, db: None, actors: dict[str, Actor]
) -> None:
    """Matching reads the list each time but hashes a list it has seen only once; a domain
    added to the list stops matching with the next upsert."""
    from unittest import mock

    from accounts import services as account_services
    from cases import evasion

    mail = {"kind": "email_domain", "value": "ceo@globex-mail.test"}
    ip = {"kind": "ip_prefix", "value": "198.51.100.7"}
    terminated(api, "globex", mail, ip)
    evasion._digests_of_domains.cache_clear()
    with mock.patch.object(evasion, "identifier_digest", wraps=evasion.identifier_digest) as digest:
        put(api, "newco", mail, ip)
        first = digest.call_count
        put(api, "newco-2", mail, ip)
        again = digest.call_count - first
    listed = CommonDomain.objects.count()
    assert (first, again) == (2 * listed, 0)
    assert len(evasion_signals("newco")) == 1  # email domain and IP prefix: a weak link

    account_services.common_domain_save(
        domain=CommonDomain(domain="globex-mail.test"), actor=actors["lead"]
    )
    put(api, "newco-3", mail, ip)
    assert evasion_signals("newco-3") == []  # only the IP prefix is left: not enough
    assert api.get("/accounts/newco-3/links").json()["results"][0]["kinds"] == ["ip_prefix"]


def test_one_weak_kind_is_not_reported_and_two_are(api: ApiCaller, db: None) -> None:
    ip = {"kind": "ip_prefix", "value": "198.51.100.7"}
    address = {"kind": "billing_address", "value": "1 Main Street, Springfield"}
    terminated(api, "globex", ip, address)

    put(api, "newco", {"kind": "ip_prefix", "value": "198.51.100.200"})
    assert evasion_signals("newco") == []

    put(api, "newco", {"kind": "billing_address", "value": "1 main street springfield"})
    [signal] = evasion_signals("newco")
    assert signal.severity == "medium"
    assert signal.evidence["kinds"] == ["billing_address", "ip_prefix"]
    assert signal.evidence["strength"] == "weak"
    assert Case.objects.get(account__external_id="newco").priority == "high"


def test_a_link_marked_false_positive_never_matches_again(
    api: ApiCaller, db: None, actors: dict[str, Actor]
) -> None:
    a = terminated(api, "globex", CARD)
    put(api, "newco", CARD)
    b = Account.objects.get(external_id="newco")
    case = Case.objects.get(account=b, state="flagged")

    account_link_dismiss(account=b, other=a, reason="Shared reseller card", actor=actors["lead"])

    event = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert event is not None and event.action == "link_false_positive"
    assert event.data == {"accounts": ["globex", "newco"]}
    put(api, "newco", CARD, {"kind": "org_registration", "value": "GB 123456"})
    put(api, "globex", {"kind": "org_registration", "value": "gb123456"})
    assert len(evasion_signals("newco")) == 1
    assert api.get("/accounts/newco/links").json()["results"] == []


def test_only_a_lead_marks_a_false_positive(
    api: ApiCaller, db: None, actors: dict[str, Actor]
) -> None:
    a = terminated(api, "globex", CARD)
    put(api, "newco", CARD)
    b = Account.objects.get(external_id="newco")
    events = CaseEvent.objects.count()
    with pytest.raises(Forbidden):
        account_link_dismiss(account=b, other=a, reason="no", actor=actors["investigator"])
    assert AccountLinkDismissal.objects.exists() is False
    assert CaseEvent.objects.count() == events


@pytest.mark.parametrize(
    "identifiers",
    [
        [{"kind": "shoe_size", "value": "42"}],
        [{"kind": "ip_prefix", "value": "10.0.0.0/8"}],
        [{"kind": "email_domain", "value": "co.uk"}],
        [{"kind": "payment_fingerprint"}],
        [{"kind": "payment_fingerprint", "value": "fp_1234", "extra": 1}],
        [CARD, {"kind": "org_domain", "value": "not a domain"}],
        "fp_1234",
        [{"kind": "payment_fingerprint", "value": 1234}],
    ],
)
def test_bad_identifiers_are_refused_and_nothing_is_written(
    api: ApiCaller, db: None, identifiers: Any
) -> None:
    body = problem(api.put("/accounts/newco", {"name": "N", "identifiers": identifiers}), 422)
    assert "identifiers" in str(body)
    assert Account.objects.filter(external_id="newco").exists() is False
    assert AccountIdentifier.objects.exists() is False


def test_identifiers_are_stored_only_as_keyed_hashes(api: ApiCaller, db: None) -> None:
    put(api, "newco", CARD, DOMAIN)
    rows = list(AccountIdentifier.objects.values_list("kind", "digest"))
    assert sorted(k for k, _ in rows) == ["org_domain", "payment_fingerprint"]
    assert all(len(d) == 64 and "globex" not in d and "fp_" not in d for _, d in rows)
    assert "identifiers" not in api.get("/accounts/newco").json()


def test_links_list_the_other_accounts_with_kinds_status_and_case(api: ApiCaller, db: None) -> None:
    a = terminated(api, "globex", CARD, DOMAIN)
    put(api, "newco", CARD, {"kind": "org_domain", "value": "www.globex.test"})
    b_case = Case.objects.get(account__external_id="newco")

    body = api.get("/accounts/newco/links").json()
    assert body == {
        "account": "newco",
        "results": [
            {
                "account": "globex",
                "name": "Globex",
                "status": "terminated",
                "case": a.enforcement_case_id,
                "open_case": None,
                "kinds": ["org_domain", "payment_fingerprint"],
                "strength": "strong",
            }
        ],
    }
    back = api.get("/accounts/globex/links").json()["results"]
    assert [(x["account"], x["open_case"]) for x in back] == [("newco", b_case.pk)]
    problem(api.get("/accounts/nobody/links"), 404)
    problem(api.get("/accounts/bad%20id/links"), 422)


def test_links_need_the_accounts_read_scope(
    make_caller: Callable[..., ApiCaller], db: None
) -> None:
    Account.objects.create(external_id="newco")
    assert make_caller("accounts:read").get("/accounts/newco/links").status_code == 200
    problem(make_caller("cases:read").get("/accounts/newco/links"), 403)
