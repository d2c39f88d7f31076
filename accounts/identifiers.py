"""Account identifiers: what each kind accepts, its normal form and its keyed hash.

An identifier is something two accounts of one customer tend to share (a payment card's
fingerprint, a company number, a domain, an office's IP range). Billing sends them in the clear;
only ``identifier_digest`` of the normal form is stored, an HMAC-SHA256 under
``settings.IDENTIFIER_HASH_KEY`` over the kind and the value, so that equal values of one kind
match and a leaked table tells nothing without the key (docs/adr/0016).

Normal forms (``identifier_normalise``):

- ``payment_fingerprint``, ``api_key_fingerprint``: opaque tokens of the payment processor or of
  the key store, trimmed; an API key fingerprint is lower-cased (a hex digest).
- ``email_domain``, ``org_domain``: an address, a URL or a host name, reduced to its registrable
  domain by the bundled Public Suffix List (``publicsuffixlist``, never fetched at run time):
  ``trust@mail.globex.co.uk`` is ``globex.co.uk``. Free-mail and hosting providers' domains are
  stored but never match (``CommonDomain``).
- ``org_registration``: a company number, upper-cased with spaces and punctuation dropped
  (``gb 0123-4567`` is ``GB01234567``).
- ``ip_prefix``: an address or a CIDR, widened to its /24 (IPv4) or /48 (IPv6) network.
- ``billing_address``: case-folded, punctuation dropped and whitespace collapsed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from publicsuffixlist import PublicSuffixList

from core.errors import InvalidInput

MAX_VALUE = 500
IPV4_PREFIX = 24
IPV6_PREFIX = 48


class IdentifierKind(models.TextChoices):
    PAYMENT_FINGERPRINT = "payment_fingerprint", "Payment method fingerprint"
    EMAIL_DOMAIN = "email_domain", "E-mail domain"
    ORG_DOMAIN = "org_domain", "Organisation's domain"
    ORG_REGISTRATION = "org_registration", "Company number"
    IP_PREFIX = "ip_prefix", "IP prefix (/24 or /48)"
    BILLING_ADDRESS = "billing_address", "Billing address"
    API_KEY_FINGERPRINT = "api_key_fingerprint", "API key fingerprint"


DOMAIN_KINDS = frozenset({IdentifierKind.EMAIL_DOMAIN, IdentifierKind.ORG_DOMAIN})
_TOKEN = re.compile(r"\A[A-Za-z0-9_.:+/=-]{4,200}\Z")
_LABEL = re.compile(r"\A(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


@dataclass(frozen=True)
class Identifier:
    """One identifier in its normal form and its digest; ``value`` is never stored."""

    kind: str
    value: str
    digest: str


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled with the package: no network


def identifier_digest(kind: str, normal: str) -> str:
    """The keyed hash stored for an identifier of ``kind`` whose normal form is ``normal``."""
    key = settings.IDENTIFIER_HASH_KEY.encode()
    return hmac.new(key, f"{kind}\x00{normal}".encode(), hashlib.sha256).hexdigest()


def _invalid(kind: str, detail: str) -> InvalidInput:
    return InvalidInput(detail=f"{kind}: {detail}", field="identifiers")


def registrable_domain(value: str, *, kind: str = IdentifierKind.ORG_DOMAIN) -> str:
    """The registrable domain of an address, URL or host: ``mail.globex.co.uk`` is
    ``globex.co.uk``; a TLD the list does not know counts as one (``globex.test``)."""
    text = value.strip().lower()
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    if "//" in text:
        try:
            text = urlsplit(text).hostname or ""
        except ValueError:  # a malformed URL ("http://[x")
            raise _invalid(kind, "not a domain name.") from None
    else:
        text = text.split("/", 1)[0]
    text = text.rstrip(".")
    try:
        host = text.encode("idna").decode("ascii") if text else ""
    except UnicodeError:
        raise _invalid(kind, "not a domain name.") from None
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise _invalid(kind, "not a domain name.")
    if labels[-1].isdigit():
        raise _invalid(kind, "an IP address is not a domain (send it as an ip_prefix).")
    domain = _suffixes().privatesuffix(host)
    if domain is None:
        raise _invalid(kind, "a public suffix, not a registrable domain.")
    return str(domain)


def _ip_prefix(value: str) -> str:
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise _invalid(IdentifierKind.IP_PREFIX, "not an IP address or CIDR prefix.") from None
    wanted = IPV4_PREFIX if network.version == 4 else IPV6_PREFIX
    if network.prefixlen < wanted:
        raise _invalid(
            IdentifierKind.IP_PREFIX, f"a prefix wider than /{wanted} matches too many accounts."
        )
    return str(network.supernet(new_prefix=wanted))


def _words(value: str) -> str:
    folded = unicodedata.normalize("NFKC", value).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", folded).split())


def identifier_normalise(kind: str, value: str) -> str:
    """The normal form of ``value`` as an identifier of ``kind``; ``InvalidInput`` if it is none."""
    if kind not in IdentifierKind.values:
        raise InvalidInput(
            detail=f"Unknown identifier kind '{kind}'; one of {', '.join(IdentifierKind.values)}.",
            field="identifiers",
        )
    if not value.strip() or len(value) > MAX_VALUE or "\x00" in value:
        raise _invalid(kind, f"a value is 1 to {MAX_VALUE} characters, without NUL.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        raise _invalid(kind, "not valid text.") from None
    if kind in (IdentifierKind.PAYMENT_FINGERPRINT, IdentifierKind.API_KEY_FINGERPRINT):
        token = value.strip()
        if not _TOKEN.match(token):
            raise _invalid(kind, "4 to 200 letters, digits and _ . : + / = -.")
        return token.lower() if kind == IdentifierKind.API_KEY_FINGERPRINT else token
    if kind in DOMAIN_KINDS:
        return registrable_domain(value, kind=kind)
    if kind == IdentifierKind.IP_PREFIX:
        return _ip_prefix(value)
    words = _words(value)
    if kind == IdentifierKind.ORG_REGISTRATION:
        number = words.replace(" ", "").replace("_", "").upper()
        if len(number) < 3:
            raise _invalid(kind, "a company number has at least 3 letters or digits.")
        return number
    if len(words) < 5:  # billing_address
        raise _invalid(kind, "an address has at least 5 letters or digits.")
    return words


def identifier_make(kind: str, value: str) -> Identifier:
    normal = identifier_normalise(kind, value)
    return Identifier(kind=kind, value=normal, digest=identifier_digest(kind, normal))
