"""May this request pass? The verdict on one request, from the account's restrictions in force.

The rules of gateway.md: a termination or a suspension refuses everything, a ``model_block``
refuses its models, a ``feature_block`` its features, and a ``rate_limit`` lets the request
pass with the limit to apply. A restriction past its ``ends_at`` (or before its ``starts_at``)
is not in force, whoever holds the list and whenever it was last synced. An account the list
does not hold is allowed (``unknown``): the list holds only the accounts that are not active.

Times are contract text (UTC ISO 8601 to the microsecond with ``Z``), which sorts as time does:
no parsing on the hot path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# The external id rule (docs/api.md): 1 to 128 ASCII letters, digits and ``- . _ ~ : @``,
# starting with a letter or a digit, and neither ``check`` nor ``changes``. Kept here so that the
# service (accounts.external_ids) and every mirror refuse the same ids.
EXTERNAL_ID_MAX_LENGTH = 128
EXTERNAL_ID_RESERVED = ("check", "changes")
# ``\A`` and ``\Z`` (not ``$``, which matches before a final newline).
EXTERNAL_ID_REGEX = (
    r"\A(?!(?:"
    + "|".join(EXTERNAL_ID_RESERVED)
    + r")\Z)[A-Za-z0-9][A-Za-z0-9._~:@-]{0,"
    + str(EXTERNAL_ID_MAX_LENGTH - 1)
    + r"}\Z"
)
_external_id_match = re.compile(EXTERNAL_ID_REGEX).match

# The problems of the check (RFC 9457), the same from the service and from a mirror.
PROBLEM_TYPE_BASE = "https://tscase.example/problems/"
REASON_TITLES = {
    "suspended": "API access suspended",
    "terminated": "API access terminated",
    "model_blocked": "This model is blocked for the account",
    "feature_blocked": "This feature is blocked for the account",
}
ACCOUNT_ID_MISSING = ("account_id_missing", "Send the account's external id in x-account-id.")
ACCOUNT_ID_INVALID = (
    "invalid_account_id",
    "x-account-id is not an external id an account can have.",
)

DENY_KINDS = {"termination": "terminated", "suspension": "suspended"}
# The order in which restrictions refuse a request: the most severe reason is the one given.
REASONS = ("terminated", "suspended", "model_blocked", "feature_blocked")


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed`` and what the gateway is told: ``status`` (``active``, ``restricted``,
    ``suspended``, ``terminated`` or ``unknown``), the ``reason`` and ``decision`` of a refusal,
    and the ``rate_limit`` to apply (``rpm=10`` or ``rpm=10, tpm=20000``)."""

    allowed: bool
    status: str
    reason: str | None = None
    decision: str | None = None
    rate_limit: str | None = None


ALLOW_UNKNOWN = Verdict(allowed=True, status="unknown")
ALLOW_ACTIVE = Verdict(allowed=True, status="active")


def now_text(now: datetime | None = None) -> str:
    """``now`` (default: the current time) as contract text."""
    value = (now or datetime.now(UTC)).astimezone(UTC)
    return value.isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


def is_external_id(value: str) -> bool:
    """Whether ``value`` follows the external id rule."""
    return _external_id_match(value) is not None


def refusal_problem(
    *,
    reason: str,
    account: str,
    decision: str | None,
    instance: str | None = None,
    type_base: str = PROBLEM_TYPE_BASE,
) -> dict[str, Any]:
    """The problem+json body of a 403 for ``reason`` (a key of :data:`REASON_TITLES`): its
    title, the account refused and the decision the customer may contest."""
    title = REASON_TITLES[reason]
    contest = f" Contest decision {decision}." if decision else ""
    body: dict[str, Any] = {
        "type": f"{type_base}{reason}",
        "title": title,
        "status": 403,
        "detail": f"{title} for account {account}.{contest}",
        "code": reason,
    }
    if instance:
        body["instance"] = instance
    body["decision"] = decision
    return body


def in_force(restrictions: Sequence[Mapping[str, Any]], now: str) -> list[Mapping[str, Any]]:
    """The restrictions that apply at ``now``: started, and not past their ``ends_at``."""
    return [
        r
        for r in restrictions
        if (r.get("ends_at") is None or r["ends_at"] > now)
        and (r.get("starts_at") is None or r["starts_at"] <= now)
    ]


def _names(values: Any) -> set[str]:
    return {str(v).strip().casefold() for v in values or ()}


def _rate_limit(limits: list[Mapping[str, Any]]) -> str | None:
    """The strictest of the rate limits in force, as ``rpm=N`` and ``tpm=N``."""
    rpm = [r["requests_per_minute"] for r in limits if r.get("requests_per_minute") is not None]
    tpm = [r["tokens_per_minute"] for r in limits if r.get("tokens_per_minute") is not None]
    parts = ([f"rpm={min(rpm)}"] if rpm else []) + ([f"tpm={min(tpm)}"] if tpm else [])
    return ", ".join(parts) or None


def verdict(
    restrictions: Sequence[Mapping[str, Any]] | None,
    *,
    model: str | None = None,
    feature: str | None = None,
    now: str | None = None,
) -> Verdict:
    """The verdict on a request for ``model`` and ``feature`` (either may be absent) by an
    account with these ``restrictions`` (``None``: an account the list does not hold).

    Model and feature names compare without regard to case or surrounding spaces: a block is
    never dodged by spelling a model ``GPT-X``."""
    if restrictions is None:
        return ALLOW_UNKNOWN
    active = in_force(restrictions, now or now_text())
    if not active:
        return ALLOW_ACTIVE
    refusals: dict[str, str | None] = {}
    limits = []
    wanted_model = model.strip().casefold() if model else None
    wanted_feature = feature.strip().casefold() if feature else None
    for r in active:
        kind = r.get("kind")
        if kind in DENY_KINDS:
            refusals.setdefault(DENY_KINDS[kind], r.get("decision"))
        elif kind == "model_block" and wanted_model and wanted_model in _names(r.get("models")):
            refusals.setdefault("model_blocked", r.get("decision"))
        elif (
            kind == "feature_block"
            and wanted_feature
            and wanted_feature in _names(r.get("features"))
        ):
            refusals.setdefault("feature_blocked", r.get("decision"))
        elif kind == "rate_limit":
            limits.append(r)
    kinds = {r.get("kind") for r in active}
    status = next(
        (DENY_KINDS[k] for k in ("termination", "suspension") if k in kinds), "restricted"
    )
    for reason in REASONS:
        if reason in refusals:
            return Verdict(allowed=False, status=status, reason=reason, decision=refusals[reason])
    return Verdict(allowed=True, status=status, rate_limit=_rate_limit(limits))
