"""PUT/GET /accounts and PUT/GET /partners."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from accounts.models import Account, Channel, Partner
from cases.services import case_open
from core.actors import Actor

from .conftest import ApiCaller, problem


def test_put_partner_creates_then_updates(api: ApiCaller, db: None) -> None:
    response = api.put("/partners/resellr", {"name": "Resellr", "kind": "reseller"})
    assert response.status_code == 201
    assert response.json()["kind"] == "reseller"
    response = api.put("/partners/resellr", {"name": "Resellr Ltd", "kind": "reseller"})
    assert response.status_code == 200
    assert Partner.objects.get(code="resellr").name == "Resellr Ltd"


def test_put_partner_validates(api: ApiCaller) -> None:
    body = problem(api.put("/partners/x", {"kind": "bank"}), 422, "invalid_input")
    assert {e["field"] for e in body["errors"]} == {"name", "kind"}
    problem(api.put("/partners/" + "p" * 65, {"name": "long"}), 422)


def test_a_text_longer_than_its_max_length_as_sent_is_refused_even_if_trimming_shortens_it(
    api: ApiCaller, db: None
) -> None:
    # The schema's maxLength bounds the string sent; trimming happens after the check.
    body = problem(api.put("/partners/resellr", {"name": "\v" + "x" * 200}), 422)
    assert [e["field"] for e in body["errors"]] == ["name"]
    assert not Partner.objects.filter(code="resellr").exists()
    assert api.put("/partners/resellr", {"name": " " + "x" * 199}).status_code == 201
    assert Partner.objects.get(code="resellr").name == "x" * 199


def test_get_and_list_partners(api: ApiCaller, partner: Partner) -> None:
    assert api.get("/partners/cloudco").json()["name"] == "CloudCo"
    problem(api.get("/partners/nope"), 404)
    body = api.get("/partners").json()
    assert [p["code"] for p in body["results"]] == ["cloudco"]
    assert "next" in body


def test_put_account_creates_with_channels(api: ApiCaller, partner: Partner) -> None:
    response = api.put(
        "/accounts/globex",
        {
            "name": "Globex",
            "tier": "enterprise",
            "contacts": ["ops@globex.test"],
            "channels": ["direct", "cloudco"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channels"] == ["direct", "cloudco"]
    assert body["enforcement"]["status"] == "active"
    assert body["open_case"] is None


def test_put_account_updates_only_given_fields_and_replaces_channels(
    api: ApiCaller, account: Account
) -> None:
    response = api.put("/accounts/acme-ai", {"tier": "scale", "channels": ["direct"]})
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.tier == "scale"
    assert account.name == "Acme AI"
    assert account.contacts == ["legal@acme.test", "cto@acme.test"]
    assert Channel.objects.filter(account=account).exists() is False
    assert account.direct is True


def test_channel_naming_an_unknown_partner_is_422_and_changes_nothing(
    api: ApiCaller, account: Account
) -> None:
    body = problem(api.put("/accounts/acme-ai", {"channels": ["nimbus"]}), 422, "invalid_input")
    assert body["errors"][0]["pointer"] == "/channels"
    assert "nimbus" in body["detail"]
    assert Channel.objects.filter(account=account).count() == 1


def test_get_account_shows_enforcement_and_open_case(api: ApiCaller, account: Account) -> None:
    case = case_open(account=account, summary="Report", actor=Actor.system())
    body = api.get("/accounts/acme-ai").json()
    assert body["open_case"] == {"id": case.pk, "state": "flagged", "priority": "medium"}
    assert body["channels"] == ["direct", "cloudco"]
    problem(api.get("/accounts/unknown"), 404, "not_found")


def test_list_accounts_filters(api: ApiCaller, account: Account, partner: Partner) -> None:
    Account.objects.create(external_id="solo", tier="free")
    assert [a["external_id"] for a in api.get("/accounts").json()["results"]] == [
        "acme-ai",
        "solo",
    ]
    assert [
        a["external_id"] for a in api.get("/accounts", partner="cloudco").json()["results"]
    ] == ["acme-ai"]
    assert [a["external_id"] for a in api.get("/accounts", tier="free").json()["results"]] == [
        "solo"
    ]
    assert api.get("/accounts", status="suspended").json()["results"] == []
    problem(api.get("/accounts", status="banned"), 400, "invalid_query")


def test_list_accounts_is_paginated_by_cursor(api: ApiCaller, db: None) -> None:
    for n in range(5):
        Account.objects.create(external_id=f"acct-{n}")
    first = api.get("/accounts", limit="2").json()
    assert len(first["results"]) == 2
    second = api.client.get(first["next"], headers=api.headers).json()
    assert [a["external_id"] for a in second["results"]] == ["acct-2", "acct-3"]


@pytest.mark.parametrize(
    ("scope", "method", "path"),
    [
        ("accounts:read", "put", "/accounts/acme-ai"),
        ("accounts:read", "put", "/partners/cloudco"),
        ("accounts:write", "get", "/accounts/acme-ai"),
        ("cases:read", "get", "/accounts"),
        ("cases:read", "get", "/partners"),
    ],
)
def test_scope_denials(
    make_caller: Callable[..., ApiCaller], account: Account, scope: str, method: str, path: str
) -> None:
    caller = make_caller(scope)
    response = caller.put(path, {"name": "X"}) if method == "put" else caller.get(path)
    body = problem(response, 403, "forbidden")
    assert "scope" in body["detail"]


@pytest.mark.parametrize(("role", "status"), [("auditor", 403), ("analyst", 403), ("lead", 200)])
def test_staff_roles_for_account_writes(
    staff: Callable[[str], ApiCaller], account: Account, role: str, status: int
) -> None:
    caller = staff(role)
    assert caller.get("/accounts/acme-ai").status_code == 200
    assert caller.put("/accounts/acme-ai", {"name": "Acme"}).status_code == status


def test_staff_without_role_is_refused(db: None, django_user_model: type) -> None:
    from django.test import Client

    user = django_user_model.objects.create_user("norole", password="x", is_staff=True)
    client = Client()
    client.force_login(user)
    problem(client.get("/api/v1/accounts"), 403)
