"""Webhook secrets: generated as ``whsec_...``, stored encrypted (Fernet), never logged.

The Fernet key is derived (HKDF-SHA256) from ``WEBHOOK_SECRET_KEY``, or from ``SECRET_KEY`` when
that is not set, so a database dump alone does not reveal the secrets. Rotating the key makes
the stored secrets unreadable: deliveries then fail with a clear error until the endpoints are
re-created.
"""

from __future__ import annotations

import base64
import functools
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

SECRET_PREFIX = "whsec_"  # noqa: S105  # a prefix, not a secret
SECRET_BYTES = 32


class SecretUnreadable(Exception):
    """The stored ciphertext cannot be decrypted with the current key."""


def _fernet() -> Fernet:
    return _fernet_for(getattr(settings, "WEBHOOK_SECRET_KEY", "") or settings.SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _fernet_for(material: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"tscase-webhooks", info=b"webhook-secrets"
    ).derive(material.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def secret_generate() -> str:
    """A new Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def secret_decrypt(stored: str) -> str:
    try:
        return _fernet().decrypt(stored.encode()).decode()
    except (InvalidToken, ValueError):
        raise SecretUnreadable("the endpoint's secret cannot be decrypted") from None
