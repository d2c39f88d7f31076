"""The EU DSA Transparency Database's rules for a submitted statement of reasons, held as data:
its fields, which are required (and when), their value lists, lengths and date formats (the
API's documentation of its statement endpoints). ``violations`` checks one statement against
them; the tests and the local fake of the API both use it."""

from __future__ import annotations

from datetime import date
from typing import Any

REQUIRED = (
    "decision_ground",
    "content_type",
    "category",
    "content_date",
    "application_date",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
    "puid",
)
# At least one of these says what was decided.
ONE_OF = ("decision_visibility", "decision_monetary", "decision_provision", "decision_account")
EEA = (
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK"
).split()
VALUES: dict[str, tuple[str, ...]] = {
    "decision_visibility": (
        "DECISION_VISIBILITY_CONTENT_REMOVED",
        "DECISION_VISIBILITY_CONTENT_DISABLED",
        "DECISION_VISIBILITY_CONTENT_DEMOTED",
        "DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED",
        "DECISION_VISIBILITY_CONTENT_LABELLED",
        "DECISION_VISIBILITY_OTHER",
    ),
    "decision_monetary": (
        "DECISION_MONETARY_SUSPENSION",
        "DECISION_MONETARY_TERMINATION",
        "DECISION_MONETARY_OTHER",
    ),
    "decision_provision": (
        "DECISION_PROVISION_PARTIAL_SUSPENSION",
        "DECISION_PROVISION_TOTAL_SUSPENSION",
        "DECISION_PROVISION_PARTIAL_TERMINATION",
        "DECISION_PROVISION_TOTAL_TERMINATION",
    ),
    "decision_account": ("DECISION_ACCOUNT_SUSPENDED", "DECISION_ACCOUNT_TERMINATED"),
    "account_type": ("ACCOUNT_TYPE_BUSINESS", "ACCOUNT_TYPE_PRIVATE"),
    "decision_ground": ("DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"),
    "incompatible_content_illegal": ("Yes", "No"),
    "category": (
        "STATEMENT_CATEGORY_ANIMAL_WELFARE",
        "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
        "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
        "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
        "STATEMENT_CATEGORY_NON_CONSENSUAL_BEHAVIOUR",
        "STATEMENT_CATEGORY_PORNOGRAPHY_OR_SEXUALIZED_CONTENT",
        "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
        "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
        "STATEMENT_CATEGORY_SELF_HARM",
        "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE",
        "STATEMENT_CATEGORY_UNSAFE_AND_ILLEGAL_PRODUCTS",
        "STATEMENT_CATEGORY_VIOLENCE",
    ),
    "source_type": (
        "SOURCE_ARTICLE_16",
        "SOURCE_TRUSTED_FLAGGER",
        "SOURCE_TYPE_OTHER_NOTIFICATION",
        "SOURCE_VOLUNTARY",
    ),
    "automated_detection": ("Yes", "No"),
    "automated_decision": (
        "AUTOMATED_DECISION_FULLY",
        "AUTOMATED_DECISION_PARTIALLY",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    ),
}
# Fields that hold a list, each item from a value list.
LISTS: dict[str, tuple[str, ...]] = {
    "content_type": (
        "CONTENT_TYPE_APP",
        "CONTENT_TYPE_AUDIO",
        "CONTENT_TYPE_IMAGE",
        "CONTENT_TYPE_PRODUCT",
        "CONTENT_TYPE_SYNTHETIC_MEDIA",
        "CONTENT_TYPE_TEXT",
        "CONTENT_TYPE_VIDEO",
        "CONTENT_TYPE_OTHER",
    ),
    "territorial_scope": tuple(EEA),
    "category_addition": VALUES["category"],
}
# (field, value that requires, fields then required); for lists, "contains".
REQUIRED_IF = (
    ("decision_ground", "DECISION_GROUND_ILLEGAL_CONTENT", ("illegal_content_legal_ground",)),
    ("decision_ground", "DECISION_GROUND_ILLEGAL_CONTENT", ("illegal_content_explanation",)),
    (
        "decision_ground",
        "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        ("incompatible_content_ground", "incompatible_content_explanation"),
    ),
    ("content_type", "CONTENT_TYPE_OTHER", ("content_type_other",)),
    ("decision_visibility", "DECISION_VISIBILITY_OTHER", ("decision_visibility_other",)),
    ("decision_monetary", "DECISION_MONETARY_OTHER", ("decision_monetary_other",)),
)
MAX_LENGTH = {
    "decision_visibility_other": 500,
    "decision_monetary_other": 500,
    "illegal_content_legal_ground": 500,
    "illegal_content_explanation": 2000,
    "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000,
    "content_type_other": 500,
    "category_specification": 500,
    "decision_facts": 5000,
    "source_identity": 500,
    "decision_ground_reference_url": 500,
    "puid": 500,
}
# (earliest, latest) of each date, written YYYY-MM-DD.
DATES = {
    "content_date": (date(2000, 1, 1), date(2038, 1, 1)),
    "application_date": (date(2020, 1, 1), date(2038, 1, 1)),
    "end_date_account_restriction": (date(2000, 1, 1), date(2038, 1, 1)),
    "end_date_monetary_restriction": (date(2000, 1, 1), date(2038, 1, 1)),
    "end_date_service_restriction": (date(2000, 1, 1), date(2038, 1, 1)),
    "end_date_visibility_restriction": (date(2000, 1, 1), date(2038, 1, 1)),
}
KNOWN = {
    *REQUIRED,
    *ONE_OF,
    *VALUES,
    *LISTS,
    *MAX_LENGTH,
    *DATES,
    "content_language",
}


def _is_date(text: Any) -> date | None:
    if not isinstance(text, str) or len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def violations(statement: dict[str, Any]) -> list[str]:
    """What in ``statement`` breaks the rules (empty: it would be accepted)."""
    found: list[str] = []
    for key in statement:
        if key not in KNOWN:
            found.append(f"{key}: not a field of the schema")
    for key in REQUIRED:
        if statement.get(key) in (None, "", []):
            found.append(f"{key}: required")
    if not any(statement.get(key) for key in ONE_OF):
        found.append(f"one of {', '.join(ONE_OF)}: required")
    for key, allowed in VALUES.items():
        if key in statement and statement[key] is not None and statement[key] not in allowed:
            found.append(f"{key}: {statement[key]!r} is not in its value list")
    for key, allowed in LISTS.items():
        if key not in statement:
            continue
        value = statement[key]
        if not isinstance(value, list):
            found.append(f"{key}: must be a list")
        else:
            found += [f"{key}: {v!r} is not in its value list" for v in value if v not in allowed]
    for key, when, needed in REQUIRED_IF:
        value = statement.get(key)
        holds = when in value if isinstance(value, list) else value == when
        if holds:
            found += [f"{n}: required when {key} is {when}" for n in needed if not statement.get(n)]
    for key, limit in MAX_LENGTH.items():
        value = statement.get(key)
        if value is not None and (not isinstance(value, str) or len(value) > limit):
            found.append(f"{key}: text of at most {limit} characters")
    for key, (earliest, latest) in DATES.items():
        if statement.get(key) is None:
            continue  # required ones are checked above; the end dates may be null
        day = _is_date(statement[key])
        if day is None:
            found.append(f"{key}: {statement[key]!r} is not YYYY-MM-DD")
        elif not earliest <= day <= latest:
            found.append(f"{key}: {day} is outside {earliest} to {latest}")
    return found
