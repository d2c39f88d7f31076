"""The characters an account's external id may have, checked wherever an id enters.

An external id is 1 to 128 characters: ASCII letters, digits and ``- . _ ~ : @``, starting with a
letter or a digit, and neither ``check`` nor ``changes`` (which name operations beside
``GET /enforcement/{id}``). Every such id is one path segment that needs no percent-encoding
and that no proxy normalises (no ``/``, no ``.`` or ``..``, no ``%``, ``?``, ``#``, ``;``), so
each id accepted anywhere can be looked up by ``GET /enforcement/{id}`` and
``GET /accounts/{id}``. docs/api.md states the same rule.
"""

from __future__ import annotations

from django.core.validators import RegexValidator

from gateway.verdict import (
    EXTERNAL_ID_MAX_LENGTH,
    EXTERNAL_ID_REGEX,
    EXTERNAL_ID_RESERVED,
)
from gateway.verdict import is_external_id as is_external_id

# The rule itself lives in gateway.verdict, so that every mirror refuses the same ids.
MAX_LENGTH = EXTERNAL_ID_MAX_LENGTH
RESERVED = EXTERNAL_ID_RESERVED
EXTERNAL_ID_PATTERN = EXTERNAL_ID_REGEX.replace(r"\A", "^").replace(r"\Z", "$")
RULE = (
    f"An external id is 1 to {MAX_LENGTH} ASCII letters, digits and - . _ ~ : @, starting with "
    f"a letter or a digit, and not {' or '.join(RESERVED)}."
)

validate_external_id = RegexValidator(EXTERNAL_ID_REGEX, RULE, code="external_id")
