"""Refuse webhook URLs that point into the provider's own network (SSRF).

An endpoint URL must be http(s) and every address its host resolves to must be public. The
check runs when an endpoint is created and again before every delivery (DNS may change).
``WEBHOOK_ALLOW_PRIVATE_URLS`` turns it off for tests.

One exception, for ``make run`` only: ``PARTNER_SANDBOX_URL`` names the origin of the partner
sandbox (config/partner_sandbox.py), ``http://127.0.0.1:PORT``, and a URL of exactly that
origin (scheme, host written as ``127.0.0.1``, port) is accepted without a DNS lookup; nothing
else on loopback is. Production settings refuse to start with it set.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from .errors import WebhookUrlRefused

SANDBOX_HOST = "127.0.0.1"


def _address_refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def _sandbox_origin(parts: SplitResult) -> bool:
    """Whether ``parts`` is on the partner sandbox's origin (an exact match, never a lookup:
    a name could resolve elsewhere)."""
    sandbox = getattr(settings, "PARTNER_SANDBOX_URL", "") or ""
    if not sandbox:
        return False
    try:
        allowed = urlsplit(sandbox)
        origin = (allowed.scheme, allowed.hostname, allowed.port)
        return (
            origin[0] == "http"
            and origin[1] == SANDBOX_HOST
            and origin[2] is not None
            and (parts.scheme, parts.hostname, parts.port) == origin
        )
    except ValueError:
        return False


def webhook_url_check(url: str) -> None:
    """Raise ``WebhookUrlRefused`` unless ``url`` may receive webhooks."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlRefused(detail="The URL is not valid.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefused(detail="The URL must be http(s)://host/...")
    if parts.username or parts.password:
        raise WebhookUrlRefused(detail="The URL must not carry credentials.")
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE_URLS", False) or _sandbox_origin(parts):
        return
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise WebhookUrlRefused(
            detail=f"The host '{host}' does not resolve.", reason="unresolvable"
        ) from None
    addresses = {str(info[4][0]) for info in infos}
    refused = sorted(a for a in addresses if _address_refused(a))
    if refused or not addresses:
        raise WebhookUrlRefused(
            detail=f"The host '{host}' resolves to a private, loopback or link-local address.",
            reason="private",
        )
