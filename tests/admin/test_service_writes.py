"""Every write of the admin goes through its service: endpoints, accounts, partners, policies,
flag rules and deadline rules. What a service refuses, the admin refuses, and writes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts import admin as accounts_admin
from accounts import services as accounts_services
from accounts.models import Account, Channel, Partner
from cases.models import FlagRule, PolicyClause, PolicyVersion, ReviewDeadlineRule
from cases.services import flag_rule_save, policy_revise, review_deadline_rule_save
from core.actors import Actor
from core.errors import Forbidden
from notifications import services as notification_services
from notifications.crypto import secret_encrypt
from notifications.models import WebhookEndpoint
from tests.admin.conftest import messages_of

NOT_LEADS = ["analyst", "investigator", "auditor"]


@pytest.fixture
def root(client: Client, db: Any) -> Client:
    client.force_login(User.objects.create_superuser("root", "root@tns.example", "pw-root"))
    return client


@pytest.fixture
def endpoint(db: Any, partner: Partner) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        partner=partner,
        url="https://hooks.cloudco.example/ts",
        event_types=["case.transitioned"],
        secret=secret_encrypt("whsec_c2VjcmV0"),
    )


def spy(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[dict[str, Any]]:
    """Record the calls of ``module.name`` and still run the real function."""
    real = getattr(module, name)
    calls: list[dict[str, Any]] = []

    def recording(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(module, name, recording)
    return calls


def endpoint_form(**changes: Any) -> dict[str, Any]:
    return {
        "url": "https://hooks.cloudco.example/v2",
        "description": "feed",
        "event_types": ["case.transitioned", "enforcement.suspended"],
        "active": "on",
        **changes,
    }


def test_an_endpoint_change_goes_through_endpoint_update(
    login: Any,
    endpoint: WebhookEndpoint,
    partner: Partner,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the example host does not resolve
    calls = spy(monkeypatch, notification_services, "endpoint_update")
    secret = endpoint.secret

    response = login("lead").post(
        f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/",
        endpoint_form(partner=partner.pk, active=""),
    )

    endpoint.refresh_from_db()
    assert response.status_code == 302, response.content[:2000]
    assert [c["endpoint_id"] for c in calls] == [endpoint.pk]
    assert endpoint.url == "https://hooks.cloudco.example/v2"
    assert endpoint.event_types == ["case.transitioned", "enforcement.suspended"]
    assert endpoint.active is False
    assert endpoint.secret == secret  # a change never touches the secret


def test_an_endpoint_change_into_our_own_network_is_refused(
    login: Any, endpoint: WebhookEndpoint, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    before = WebhookEndpoint.objects.values().get(pk=endpoint.pk)

    response = login("lead").post(
        f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/",
        endpoint_form(url="http://127.0.0.1:6379/"),
    )

    assert response.status_code == 200
    assert b"private, loopback or link-local" in response.content
    assert WebhookEndpoint.objects.values().get(pk=endpoint.pk) == before


def test_a_refusal_the_form_did_not_foresee_saves_nothing(
    login: Any, partner: Partner, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host resolved when the form was checked and not when the service ran."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    real = notification_services.endpoint_create

    def host_moved(**kwargs: Any) -> Any:
        settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
        return real(**{**kwargs, "url": "http://127.0.0.1/"})

    monkeypatch.setattr(notification_services, "endpoint_create", host_moved)

    response = login("lead").post(
        "/admin/notifications/webhookendpoint/add/", endpoint_form(partner=partner.pk), follow=True
    )

    assert response.status_code == 200
    assert any("Nothing was saved" in m for m in messages_of(response))
    assert WebhookEndpoint.objects.exists() is False


def test_the_account_admin_saves_through_account_upsert(
    root: Client, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = Partner.objects.create(code="resell", name="Resell", kind="reseller")
    calls = spy(monkeypatch, accounts_admin, "account_upsert")

    response = root.post(
        f"/admin/accounts/account/{account.pk}/change/",
        {
            "name": "Acme AI Ltd",
            "tier": "enterprise",
            "contacts": "legal@acme.test\n ops@acme.test \n",
            "channel_partners": [other.pk],
            **inline_management("channels"),
            **inline_management("cases"),
            **inline_management("decisions"),
        },
    )

    account.refresh_from_db()
    assert response.status_code == 302, response.content[:3000]
    assert [c["external_id"] for c in calls] == ["acme-ai"]
    assert account.name == "Acme AI Ltd"
    assert account.contacts == ["legal@acme.test", "ops@acme.test"]
    assert account.direct is False
    channels = Channel.objects.filter(account=account).values_list("partner__code", flat=True)
    assert list(channels) == ["resell"]


def test_the_account_admin_refuses_contacts_that_are_not_addresses(
    root: Client, account: Account
) -> None:
    before = Account.objects.values().get(pk=account.pk)

    response = root.post(
        f"/admin/accounts/account/{account.pk}/change/",
        {
            "name": "x",
            "tier": "enterprise",
            "contacts": "legal@acme.test\nnot an address",
            **inline_management("channels"),
            **inline_management("cases"),
        },
    )

    assert response.status_code == 200
    assert b"Not an e-mail address: not an address" in response.content
    assert Account.objects.values().get(pk=account.pk) == before


def test_the_account_admin_shows_contacts_one_a_line(root: Client, account: Account) -> None:
    html = root.get(f"/admin/accounts/account/{account.pk}/change/").content.decode()

    assert "[&quot;legal" not in html
    assert "legal@acme.test\ncto@acme.test</textarea>" in html
    assert "via cloudco" in html and "via 1" not in html


def test_the_partner_admin_saves_through_partner_upsert(
    login: Any, partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy(monkeypatch, accounts_admin, "partner_upsert")
    assert accounts_admin.partner_upsert is not accounts_services.partner_upsert

    response = login("lead").post(
        f"/admin/accounts/partner/{partner.pk}/change/",
        {"name": "CloudCo Platform", "kind": "cloud"},
    )

    partner.refresh_from_db()
    assert response.status_code == 302, response.content[:2000]
    assert [c["code"] for c in calls] == ["cloudco"]
    assert partner.name == "CloudCo Platform"


@pytest.mark.parametrize("role", NOT_LEADS)
def test_policy_and_rule_services_refuse_other_roles(
    actors: dict[str, Actor], policies: dict[str, PolicyClause], role: str
) -> None:
    clause = policies["rate-limit-evasion"]
    rule = FlagRule.objects.get(name="Any critical signal")
    deadline = ReviewDeadlineRule.objects.get(state="flagged", priority="critical")
    versions = PolicyVersion.objects.count()

    with pytest.raises(Forbidden):
        policy_revise(
            policy=clause,
            code=clause.code,
            title="t",
            text="new words",
            severity="low",
            actor=actors[role],
        )
    rule.threshold = 99
    with pytest.raises(Forbidden):
        flag_rule_save(rule=rule, actor=actors[role])
    deadline.duration = timedelta(minutes=1)
    with pytest.raises(Forbidden):
        review_deadline_rule_save(rule=deadline, actor=actors[role])

    assert PolicyVersion.objects.count() == versions
    assert FlagRule.objects.get(pk=rule.pk).threshold == 1
    assert ReviewDeadlineRule.objects.get(pk=deadline.pk).duration == timedelta(hours=4)


def flag_rule_form(rule: FlagRule, **fields: Any) -> dict[str, Any]:
    """The admin's change form of ``rule`` as posted, with ``fields`` changed."""
    return {
        "name": rule.name,
        "kind": rule.kind,
        "min_severity": rule.min_severity,
        "signal_kind": rule.signal_kind,
        "priority": rule.priority,
        "active": "on",
        **fields,
    }


def test_a_lead_changes_a_flag_rule_through_its_service(
    login: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cases.admin import records

    calls = spy(monkeypatch, records, "flag_rule_save")
    rule = FlagRule.objects.get(name="Any critical signal")

    response = login("lead").post(
        f"/admin/cases/flagrule/{rule.pk}/change/",
        flag_rule_form(rule, threshold=3, window="01:00:00"),
    )

    rule.refresh_from_db()
    assert response.status_code == 302, response.content[:2000]
    assert [c["rule"].pk for c in calls] == [rule.pk]
    assert rule.threshold == 3


def inline_management(prefix: str) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


@pytest.mark.parametrize(
    ("window", "refused"),
    [
        (timedelta(days=999_999_999), True),  # intake's look-back would leave the calendar
        (timedelta(days=367), True),
        (timedelta(0), True),
        (timedelta(seconds=-5), True),
        (timedelta(days=366), False),
        (timedelta(seconds=1), False),
    ],
)
def test_a_flag_rule_window_is_one_second_to_366_days(
    actors: dict[str, Actor], db: Any, window: timedelta, refused: bool
) -> None:
    from core.errors import InvalidInput

    rule = FlagRule.objects.get(name="Any critical signal")
    stored = rule.window
    rule.window = window
    if refused:
        with pytest.raises(InvalidInput) as raised:
            flag_rule_save(rule=rule, actor=actors["lead"])
        assert raised.value.fields["field"] == "window"
        assert raised.value.detail.startswith("window: ")
        assert FlagRule.objects.get(pk=rule.pk).window == stored
    else:
        flag_rule_save(rule=rule, actor=actors["lead"])
        assert FlagRule.objects.get(pk=rule.pk).window == window


def test_the_admin_refuses_a_window_intake_could_not_use(login: Any, db: Any) -> None:
    rule = FlagRule.objects.get(name="Any critical signal")
    stored = rule.window
    response = login("lead").post(
        f"/admin/cases/flagrule/{rule.pk}/change/",
        flag_rule_form(rule, threshold=1, window="999999999 00:00:00"),
    )
    assert response.status_code == 200  # the form again, with the error
    assert "Ensure this value is less than or equal to 366 days" in response.content.decode()
    assert FlagRule.objects.get(pk=rule.pk).window == stored
