"""Webhook endpoints: creation and its checks, encrypted secrets, the management command."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from standardwebhooks.webhooks import Webhook

from accounts.models import Partner
from core.actors import Actor
from core.errors import Forbidden, InvalidInput
from notifications.crypto import SecretUnreadable, secret_decrypt
from notifications.errors import EndpointNotFound, WebhookUrlRefused
from notifications.models import WebhookEndpoint
from notifications.services import endpoint_create, endpoint_disable

from .conftest import make_endpoint

PUBLIC = "https://93.184.216.34/hooks"  # a literal public address: no DNS lookup


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://10.1.2.3/hooks",
        "http://192.168.0.10/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://[fe80::1]/hooks",
        "http://0.0.0.0/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
    ],
)
def test_private_loopback_and_link_local_urls_are_refused(
    url: str, partner: Partner, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(WebhookUrlRefused):
        make_endpoint(url, partner)
    assert WebhookEndpoint.objects.exists() is False


@pytest.mark.parametrize("url", ["ftp://93.184.216.34/x", "https://user:pw@93.184.216.34/", "x"])
def test_malformed_urls_are_refused(url: str, partner: Partner, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    with pytest.raises(WebhookUrlRefused):
        make_endpoint(url, partner)


def test_private_url_is_accepted_when_the_setting_allows(partner: Partner, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    endpoint, _ = make_endpoint("http://127.0.0.1:8080/hooks", partner)
    assert endpoint.active is True


def test_secret_is_stored_encrypted_and_works_with_the_reference_library(
    partner: Partner, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    endpoint, secret = make_endpoint(PUBLIC, partner)
    assert secret.startswith("whsec_")
    stored = WebhookEndpoint.objects.get(pk=endpoint.pk).secret
    assert secret not in stored and secret[6:] not in stored
    assert secret_decrypt(stored) == secret
    Webhook(secret)  # a valid Standard Webhooks secret


def test_secret_cannot_be_read_with_another_key(partner: Partner, settings: Any) -> None:
    settings.WEBHOOK_SECRET_KEY = "key-one"
    endpoint, _ = make_endpoint(PUBLIC, partner)
    settings.WEBHOOK_SECRET_KEY = "key-two"
    with pytest.raises(SecretUnreadable):
        secret_decrypt(endpoint.secret)


def test_unknown_event_type_and_empty_events_are_refused(partner: Partner) -> None:
    with pytest.raises(InvalidInput):
        make_endpoint(PUBLIC, partner, ["enforcement.exploded"])
    with pytest.raises(InvalidInput):
        endpoint_create(url=PUBLIC, event_types=[], actor=Actor.system("t"))


def test_only_leads_manage_endpoints(actors: dict[str, Actor], partner: Partner) -> None:
    with pytest.raises(Forbidden):
        endpoint_create(url=PUBLIC, event_types=["case.transitioned"], actor=actors["investigator"])
    endpoint, _ = endpoint_create(
        url=PUBLIC, event_types=["case.transitioned"], actor=actors["lead"], partner="cloudco"
    )
    with pytest.raises(Forbidden):
        endpoint_disable(endpoint_id=endpoint.pk, actor=actors["analyst"])
    assert endpoint_disable(endpoint_id=endpoint.pk, actor=actors["lead"]).active is False
    with pytest.raises(EndpointNotFound):
        endpoint_disable(endpoint_id=999, actor=actors["lead"])


def test_command_add_prints_the_secret_once_and_list_never_shows_it(partner: Partner) -> None:
    out = StringIO()
    call_command(
        "webhook_endpoint",
        "add",
        PUBLIC,
        "--partner",
        "cloudco",
        "--event",
        "enforcement.suspended",
        "--event",
        "enforcement.reinstated",
        stdout=out,
    )
    secret = out.getvalue().split("secret (shown once, store it now): ")[1].strip()
    endpoint = WebhookEndpoint.objects.get()
    assert secret_decrypt(endpoint.secret) == secret
    assert endpoint.event_types == ["enforcement.suspended", "enforcement.reinstated"]
    assert endpoint.partner == partner
    listing = StringIO()
    call_command("webhook_endpoint", "list", stdout=listing)
    assert PUBLIC in listing.getvalue() and secret[6:] not in listing.getvalue()
    call_command("webhook_endpoint", "disable", str(endpoint.pk), stdout=StringIO())
    endpoint.refresh_from_db()
    assert endpoint.active is False


@pytest.mark.parametrize(
    "argv",
    [
        ["add", PUBLIC, "--partner", "nobody", "--event", "enforcement.suspended"],
        ["add", PUBLIC, "--partner", "cloudco", "--event", "nope"],
        ["add", "http://127.0.0.1/x", "--partner", "cloudco", "--event", "case.transitioned"],
        ["add", PUBLIC, "--partner", "cloudco"],
        ["disable", "12345"],
        ["explode"],
    ],
)
def test_command_bad_input_changes_nothing(
    argv: list[str], partner: Partner, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    with pytest.raises(CommandError):
        call_command("webhook_endpoint", *argv, stdout=StringIO(), stderr=StringIO())
    assert WebhookEndpoint.objects.exists() is False


def test_command_bad_input_exits_non_zero_with_one_line_on_stderr(
    transactional_db: Any, partner: Partner, capsys: Any
) -> None:
    from notifications.management.commands.webhook_endpoint import Command

    for argv in (
        ["add", PUBLIC, "--partner", "nobody", "--event", "enforcement.suspended"],
        ["add", PUBLIC],
    ):
        with pytest.raises(SystemExit) as exit_info:
            Command().run_from_argv(["manage.py", "webhook_endpoint", *argv])
        assert exit_info.value.code != 0
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
    assert WebhookEndpoint.objects.exists() is False
