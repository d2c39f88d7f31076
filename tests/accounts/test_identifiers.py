"""Normal forms and keyed hashes of account identifiers (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.identifiers import identifier_digest, identifier_make, identifier_normalise
from core.errors import InvalidInput


@pytest.mark.parametrize(
    ("kind", "value", "normal"),
    [
        ("email_domain", "Trust@Mail.Globex.co.uk", "globex.co.uk"),
        ("email_domain", "globex.test", "globex.test"),
        ("org_domain", "https://www.Globex.test/about", "globex.test"),
        ("org_domain", "shop.globex.github.io", "globex.github.io"),
        ("org_domain", "bücher.de", "xn--bcher-kva.de"),
        ("ip_prefix", "203.0.113.77", "203.0.113.0/24"),
        ("ip_prefix", "203.0.113.128/25", "203.0.113.0/24"),
        ("ip_prefix", "2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("org_registration", "gb 0123-4567", "GB01234567"),
        ("billing_address", "1 Main St.,  Springfield", "1 main st springfield"),
        ("payment_fingerprint", "  Xy12AbCd  ", "Xy12AbCd"),
        ("api_key_fingerprint", "ABCDEF0123", "abcdef0123"),
    ],
)
def test_values_are_normalised_per_kind(kind: str, value: str, normal: str) -> None:
    assert identifier_normalise(kind, value) == normal


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("email_domain", "co.uk"),
        ("email_domain", "localhost"),
        ("org_domain", "192.0.2.1"),
        ("org_domain", "bad_label.example.com"),
        ("ip_prefix", "10.0.0.0/8"),
        ("ip_prefix", "not-an-ip"),
        ("org_registration", "-"),
        ("billing_address", "1 a"),
        ("payment_fingerprint", "has space in it"),
        ("payment_fingerprint", "x" * 501),
        ("shoe_size", "42"),
        ("email_domain", "   "),
        ("org_domain", "http://[globex.test/"),
        ("org_domain", "x" * 64 + ".test"),
        ("billing_address", "1 Main Street \ud800"),
    ],
)
def test_bad_values_are_refused(kind: str, value: str) -> None:
    with pytest.raises(InvalidInput):
        identifier_normalise(kind, value)


def test_equal_normal_forms_hash_alike_and_kinds_apart(settings: Any) -> None:
    settings.IDENTIFIER_HASH_KEY = "k" * 32
    a = identifier_make("email_domain", "a@globex.test")
    b = identifier_make("email_domain", "b@eu.globex.test")
    assert a.digest == b.digest
    assert identifier_make("org_domain", "globex.test").digest != a.digest
    assert len(a.digest) == 64 and "globex" not in a.digest


def test_the_digest_depends_on_the_key(settings: Any) -> None:
    settings.IDENTIFIER_HASH_KEY = "k" * 32
    first = identifier_digest("payment_fingerprint", "fp_1")
    settings.IDENTIFIER_HASH_KEY = "j" * 32
    assert identifier_digest("payment_fingerprint", "fp_1") != first
