"""An account's enforcement as the gateway reads it, derived from its restrictions in force.

No database access here: the service writes what these functions derive onto the account row
(and each change), and every reader (the lookup, the check, the feed's consumers) applies
:func:`as_of` so that a restriction past its ``ends_at`` is never reported in force, even before
the expiry job has run (decisions.md).

A restriction is reported as a dict (``restriction_view``) whose times are contract text
(``config.times.iso``): fixed-width UTC text compares as the times do, so reading needs no
parsing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from accounts.choices import EnforcementStatus
from config.times import iso, iso_or_none

from .choices import RestrictionKind

if TYPE_CHECKING:
    from .models import Restriction

# Most severe first; the order restrictions are reported in.
KIND_ORDER = {kind: rank for rank, kind in enumerate(RestrictionKind)}

STATUS_OF_KIND = {
    RestrictionKind.TERMINATION: EnforcementStatus.TERMINATED,
    RestrictionKind.SUSPENSION: EnforcementStatus.SUSPENDED,
    RestrictionKind.MODEL_BLOCK: EnforcementStatus.RESTRICTED,
    RestrictionKind.FEATURE_BLOCK: EnforcementStatus.RESTRICTED,
    RestrictionKind.RATE_LIMIT: EnforcementStatus.RESTRICTED,
}


def restriction_view(restriction: Restriction, reference: str) -> dict[str, Any]:
    """A restriction as the lookup, the check, the feed and the webhooks report it."""
    return {
        "kind": restriction.kind,
        "models": list(restriction.blocked_models or []),
        "features": list(restriction.blocked_features or []),
        "requests_per_minute": restriction.requests_per_minute,
        "tokens_per_minute": restriction.tokens_per_minute,
        "starts_at": iso(restriction.starts_at),
        "ends_at": iso_or_none(restriction.ends_at),
        "decision": reference,
        "case": restriction.case_id,
    }


def ordered(views: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(views, key=lambda v: (KIND_ORDER.get(v["kind"], 99), v["starts_at"]))


def status_of(views: Sequence[dict[str, Any]]) -> str:
    """terminated > suspended > restricted > active, over the restrictions given."""
    if not views:
        return EnforcementStatus.ACTIVE
    return str(STATUS_OF_KIND[RestrictionKind(ordered(views)[0]["kind"])])


def until_of(views: Sequence[dict[str, Any]], status: str) -> str | None:
    """When ``status`` ends by itself: the last ``ends_at`` of the restrictions that make it,
    ``None`` if one of them is open-ended (or the account is active)."""
    making = [v for v in views if STATUS_OF_KIND.get(RestrictionKind(v["kind"])) == status]
    if not making or any(v["ends_at"] is None for v in making):
        return None
    return max(v["ends_at"] for v in making)


def holder_of(views: Sequence[dict[str, Any]]) -> int | None:
    """The case of the most severe restriction: the one the lookup names."""
    return ordered(views)[0]["case"] if views else None


def as_of(
    *,
    status: str,
    since: str,
    until: str | None,
    case: int | None,
    restrictions: Sequence[dict[str, Any]],
    now: str,
) -> tuple[str, str, str | None, int | None, list[dict[str, Any]]]:
    """``(status, since, until, case, restrictions)`` at ``now`` (contract text), from what was
    stored: restrictions whose ``ends_at`` has passed are dropped and the rest derived again.
    ``since`` becomes the moment the status last changed by itself."""
    if not restrictions or all(r["ends_at"] is None or r["ends_at"] > now for r in restrictions):
        return status, since, until, case, list(restrictions)
    kept = [r for r in restrictions if r["ends_at"] is None or r["ends_at"] > now]
    dropped = [
        r["ends_at"] for r in restrictions if r["ends_at"] is not None and r["ends_at"] <= now
    ]
    new_status = status_of(kept)
    new_since = since if new_status == status else max(dropped)
    return new_status, new_since, until_of(kept, new_status), holder_of(kept), kept


def next_end(restrictions: Sequence[dict[str, Any]]) -> str | None:
    """The earliest ``ends_at`` among ``restrictions``: until then, what is stored holds."""
    ends = [r["ends_at"] for r in restrictions if r["ends_at"] is not None]
    return min(ends) if ends else None
