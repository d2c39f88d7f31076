"""The characters an account's external id may have, checked wherever an id enters.

An external id is 1 to 128 characters: ASCII letters, digits and ``- . _ ~ : @``, starting with a
letter or a digit, and neither ``check`` nor ``changes`` (which name operations beside
``GET /enforcement/{id}``). Every such id is one path segment that needs no percent-encoding
and that no proxy normalises (no ``/``, no ``.`` or ``..``, no ``%``, ``?``, ``#``, ``;``), so
each id accepted anywhere can be looked up by ``GET /enforcement/{id}`` and
``GET /accounts/{id}``. docs/api.md states the same rule.
"""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

MAX_LENGTH = 128
RESERVED = ("check", "changes")
# ``\A`` and ``\Z`` (not ``$``, which matches before a final newline); drf-spectacular writes
# them as ``^`` and ``$`` in the schema's ``pattern``.
EXTERNAL_ID_REGEX = (
    r"\A(?!(?:"
    + "|".join(RESERVED)
    + r")\Z)[A-Za-z0-9][A-Za-z0-9._~:@-]{0,"
    + str(MAX_LENGTH - 1)
    + r"}\Z"
)
EXTERNAL_ID_PATTERN = EXTERNAL_ID_REGEX.replace(r"\A", "^").replace(r"\Z", "$")
RULE = (
    f"An external id is 1 to {MAX_LENGTH} ASCII letters, digits and - . _ ~ : @, starting with "
    f"a letter or a digit, and not {' or '.join(RESERVED)}."
)

_match = re.compile(EXTERNAL_ID_REGEX).match

validate_external_id = RegexValidator(EXTERNAL_ID_REGEX, RULE, code="external_id")


def is_external_id(value: str) -> bool:
    """Whether ``value`` (a ``str``) follows the rule."""
    return _match(value) is not None
