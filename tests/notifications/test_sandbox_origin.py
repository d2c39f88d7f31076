"""The partner sandbox's exception to the SSRF check: with ``PARTNER_SANDBOX_URL`` set (only
``make run`` sets it), URLs of exactly that origin are accepted, at creation and before each
delivery; any other loopback or private URL is still refused."""

from __future__ import annotations

from typing import Any

import pytest

from notifications.errors import WebhookUrlRefused
from notifications.urls_check import webhook_url_check

SANDBOX = "http://127.0.0.1:8201"


@pytest.fixture
def sandbox(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    settings.PARTNER_SANDBOX_URL = SANDBOX


@pytest.mark.parametrize("url", [f"{SANDBOX}/cloudco", f"{SANDBOX}/resellnet?x=1", SANDBOX])
def test_a_url_on_the_sandbox_origin_is_accepted(sandbox: None, url: str) -> None:
    webhook_url_check(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8202/cloudco",  # another port
        "http://127.0.0.1/cloudco",  # no port
        "https://127.0.0.1:8201/cloudco",  # another scheme
        "http://localhost:8201/cloudco",  # a name, which could resolve anywhere
        "http://[::1]:8201/cloudco",
        "http://10.0.0.5:8201/cloudco",
        "http://user:pw@127.0.0.1:8201/cloudco",
    ],
)
def test_any_other_loopback_or_private_url_is_still_refused(sandbox: None, url: str) -> None:
    with pytest.raises(WebhookUrlRefused):
        webhook_url_check(url)


@pytest.mark.parametrize(
    "configured",
    ["", "http://10.0.0.5:8201", "http://localhost:8201", "https://127.0.0.1:8201", "127.0.0.1"],
)
def test_a_sandbox_setting_off_loopback_allows_nothing(settings: Any, configured: str) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False
    settings.PARTNER_SANDBOX_URL = configured
    target = configured if "://" in configured else "http://127.0.0.1:8201"
    with pytest.raises(WebhookUrlRefused):
        webhook_url_check(f"{target}/cloudco")
