"""Ban evasion: accounts that share identifiers with a suspended or terminated one are flagged.

Matching runs when identifiers are added to an account (``account_put``) and when an account
becomes suspended or terminated (``evasion_match``, called by ``enforcement_derive``). It reads a
fixed number of rows whatever the number of accounts: the account's digests, then every other
account holding one of them (one read of the digest index), the kinds' strengths, the matching
policy, the common domains and the links marked false positive.

A link to a restricted account that is strong enough (a strong kind, or as many weak kinds as the
policy requires) becomes a ``ban_evasion_suspected`` signal on the other account, stored by the
ordinary intake: the flag rules then open (or join) a case, high priority by the default rule.
The signal names the restricted account and the kinds that matched, never a value. Nothing is
restricted automatically. The same link with the same kinds is one signal (its dedupe key); a
link that gains a kind is a new one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case as Case_
from django.db.models import Q, Value, When
from django.utils import timezone

from accounts.choices import EnforcementStatus, LinkStrength
from accounts.identifiers import DOMAIN_KINDS, IdentifierKind, identifier_digest, identifier_make
from accounts.models import (
    Account,
    AccountIdentifier,
    AccountLinkDismissal,
    CommonDomain,
    EvasionPolicy,
    IdentifierKindSetting,
)
from accounts.services import account_identifiers_add, account_upsert
from config.times import iso
from core.actors import Actor
from core.errors import Conflict, Forbidden, InvalidInput
from core.roles import Role, role_allows

from .choices import OPEN_STATES, PRIORITY_RANK, EventAction, Priority
from .intake import signals_ingest
from .models import Case, Signal
from .services import case_evidence_add
from .services.transitions import _append_event, _lock_case

SIGNAL_KIND = "ban_evasion_suspected"
SOURCE = "ban-evasion-matching"
# The statuses another account is flagged for sharing identifiers with.
RESTRICTED = frozenset({EnforcementStatus.SUSPENDED, EnforcementStatus.TERMINATED})
# Used when a kind has no row (leads edit the rows; migration accounts 0009 seeds them).
DEFAULT_STRENGTH = {
    IdentifierKind.PAYMENT_FINGERPRINT: LinkStrength.STRONG,
    IdentifierKind.ORG_REGISTRATION: LinkStrength.STRONG,
    IdentifierKind.API_KEY_FINGERPRINT: LinkStrength.STRONG,
    IdentifierKind.ORG_DOMAIN: LinkStrength.STRONG,
    IdentifierKind.EMAIL_DOMAIN: LinkStrength.WEAK,
    IdentifierKind.IP_PREFIX: LinkStrength.WEAK,
    IdentifierKind.BILLING_ADDRESS: LinkStrength.WEAK,
}
DEFAULT_WEAK_KINDS_REQUIRED = 2
SEVERITY = {LinkStrength.STRONG: Priority.HIGH, LinkStrength.WEAK: Priority.MEDIUM}
ACTOR_LABEL = "ban evasion matching"


@dataclass(frozen=True)
class Tuning:
    """What decides whether a link is reported: each kind's strength and the weak threshold."""

    strengths: dict[str, str]
    weak_kinds_required: int

    def strength_of(self, kinds: Iterable[str]) -> str | None:
        """``strong``, ``weak`` or ``None`` (not enough to report) for a link of these kinds."""
        of = [self.strengths.get(k, LinkStrength.WEAK) for k in kinds]
        if LinkStrength.STRONG in of:
            return LinkStrength.STRONG
        if of.count(LinkStrength.WEAK) >= max(1, self.weak_kinds_required):
            return LinkStrength.WEAK
        return None


def tuning_get() -> Tuning:
    strengths: dict[str, str] = {str(k): str(v) for k, v in DEFAULT_STRENGTH.items()}
    strengths.update(IdentifierKindSetting.objects.values_list("kind", "strength"))
    policy = EvasionPolicy.objects.filter(pk=1).values_list("weak_kinds_required", flat=True)
    return Tuning(strengths, next(iter(policy), DEFAULT_WEAK_KINDS_REQUIRED))


@dataclass
class Link:
    """Another account that shares identifiers with the one looked at."""

    account_id: int
    external_id: str
    name: str
    status: str
    case_id: int | None  # the case that holds its status
    kinds: list[str] = field(default_factory=list)
    strength: str | None = None
    false_positive: bool = False
    open_case_id: int | None = None


def _common_digests() -> frozenset[str]:
    """The digests of the common domains, for both domain kinds: never matched. The list is
    read each time (an edit counts at once); its digests are worked out once per list."""
    domains = tuple(CommonDomain.objects.values_list("domain", flat=True))
    return _digests_of_domains(domains, settings.IDENTIFIER_HASH_KEY)


@functools.lru_cache(maxsize=4)
def _digests_of_domains(domains: tuple[str, ...], hash_key: str) -> frozenset[str]:
    # ``hash_key`` is part of the cache key only: identifier_digest reads the same setting.
    return frozenset(identifier_digest(kind, d) for d in domains for kind in DOMAIN_KINDS)


def _dismissed_with(account_id: int) -> set[int]:
    pairs = AccountLinkDismissal.objects.filter(Q(low_id=account_id) | Q(high_id=account_id))
    return {
        high if low == account_id else low for low, high in pairs.values_list("low_id", "high_id")
    }


def links_find(
    *, account_id: int, with_false_positives: bool = False, digests: Iterable[str] | None = None
) -> list[Link]:
    """Every other account that shares an identifier with this one, strongest first.

    A fixed number of queries whatever the number of accounts or identifiers: the account's
    digests, the other holders of any of them (the digest index), the common domains, the links
    marked false positive and the tuning. Links marked false positive are left out unless
    ``with_false_positives``. ``digests`` are all of the account's, when the caller knows them
    (an account just created), else they are read.
    """
    if digests is None:
        digests = AccountIdentifier.objects.filter(account_id=account_id).values_list(
            "digest", flat=True
        )
    mine = set(digests)
    if mine:
        mine -= _common_digests()
    if not mine:
        return []
    rows = (
        AccountIdentifier.objects.filter(digest__in=sorted(mine))
        .exclude(account_id=account_id)
        .order_by()
        .values_list(
            "account_id",
            "kind",
            "account__external_id",
            "account__name",
            "account__enforcement_status",
            "account__enforcement_case_id",
        )
    )
    links: dict[int, Link] = {}
    for other, kind, external_id, name, status, case_id in rows:
        link = links.get(other)
        if link is None:
            link = links[other] = Link(other, external_id, name, status, case_id)
        if kind not in link.kinds:
            link.kinds.append(kind)
    if not links:
        return []
    dismissed = _dismissed_with(account_id)
    tuning = tuning_get()
    found = []
    for link in links.values():
        link.kinds.sort()
        link.strength = tuning.strength_of(link.kinds)
        link.false_positive = link.account_id in dismissed
        if with_false_positives or not link.false_positive:
            found.append(link)
    rank: dict[str | None, int] = {LinkStrength.STRONG: 0, LinkStrength.WEAK: 1}
    found.sort(key=lambda x: (rank.get(x.strength, 2), x.external_id))
    return found


def _signal(
    *,
    on: str,
    on_id: int,
    restricted: Link | Account,
    kinds: list[str],
    strength: str,
    restricted_id: int,
) -> dict[str, Any]:
    external_id = restricted.external_id
    status = restricted.status if isinstance(restricted, Link) else restricted.enforcement_status
    case_id = restricted.case_id if isinstance(restricted, Link) else restricted.enforcement_case_id
    return {
        "account": on,
        "kind": SIGNAL_KIND,
        "severity": str(SEVERITY[LinkStrength(strength)]),
        "occurred_at": iso(timezone.now()),
        "source": SOURCE,
        "dedupe_key": f"link:{on_id}:{restricted_id}:{'+'.join(kinds)}",
        "summary": f"Shares {', '.join(kinds)} with {status} account {external_id} "
        f"({strength} link).",
        "evidence": {
            "restricted_account": external_id,
            "restricted_status": str(status),
            "restricted_case": case_id,
            "kinds": kinds,
            "strength": strength,
        },
    }


def evasion_match(*, account_id: int, digests: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Record a ``ban_evasion_suspected`` signal for each reportable link of this account to or
    from a suspended or terminated account; the intake's results (empty if none).

    If the account is restricted, each linked account that is not terminated is flagged,
    naming it; each linked restricted account flags this one. Runs in the caller's transaction.
    """
    found = links_find(account_id=account_id, digests=digests)
    links = [link for link in found if link.strength is not None]
    if not links:
        return []  # an account without identifiers costs one query
    account = Account.objects.get(pk=account_id)
    batch = []
    for link in links:
        assert link.strength is not None  # noqa: S101 -- filtered above
        if link.status in RESTRICTED and account.enforcement_status != EnforcementStatus.TERMINATED:
            batch.append(
                _signal(
                    on=account.external_id,
                    on_id=account.pk,
                    restricted=link,
                    restricted_id=link.account_id,
                    kinds=link.kinds,
                    strength=link.strength,
                )
            )
        if account.enforcement_status in RESTRICTED and link.status != EnforcementStatus.TERMINATED:
            batch.append(
                _signal(
                    on=link.external_id,
                    on_id=link.account_id,
                    restricted=account,
                    restricted_id=account.pk,
                    kinds=link.kinds,
                    strength=link.strength,
                )
            )
    if not batch:
        return []
    actor = Actor.system(ACTOR_LABEL)
    results = signals_ingest(batch=batch, actor=actor)
    # The case names the restricted account and the kinds on its own evidence list.
    for signal, result in zip(batch, results, strict=True):
        if result["status"] == "stored" and result["case"] is not None:
            case_evidence_add(
                case=result["case"],
                reference=f"account {signal['evidence']['restricted_account']}",
                description=signal["summary"],
                actor=actor,
            )
    return results


def account_put(
    *,
    external_id: str,
    identifiers: Sequence[dict[str, str]] | None = None,
    **fields: Any,
) -> tuple[Account, bool]:
    """Create or update an account (``account_upsert``) and add its identifiers; when any is
    new, match the account at once, in the same transaction. Every identifier is checked before
    anything is written: a bad one is an ``InvalidInput`` and nothing changes."""
    made = [identifier_make(i["kind"], i["value"]) for i in identifiers or ()]
    with transaction.atomic():
        account, created = account_upsert(external_id=external_id, **fields)
        added = account_identifiers_add(account=account, identifiers=made, new_account=created)
        if added:
            # A new account's identifiers are the ones just added: no need to read them.
            evasion_match(account_id=account.pk, digests=added if created else None)
    return account, created


def account_link_dismiss(*, account: Account, other: Account, reason: str, actor: Actor) -> None:
    """Mark the link between two accounts a false positive (leads): it never matches again.

    Recorded on the timeline of every open case of either account, and kept with who marked it,
    when and why.
    """
    if not role_allows(actor.role, Role.LEAD):
        raise Forbidden(detail="Only a lead may mark a link as a false positive.")
    reason = reason.strip()
    if not reason:
        raise InvalidInput(detail="Say why the link is a false positive.", field="reason")
    if account.pk == other.pk:
        raise InvalidInput(detail="An account is not linked to itself.", field="other")
    low, high = sorted((account.pk, other.pk))
    names = {account.pk: account.external_id, other.pk: other.external_id}
    try:
        with transaction.atomic():
            AccountLinkDismissal.objects.create(
                low_id=low, high_id=high, reason=reason, marked_by=actor.label
            )
            now = timezone.now()
            for case_id in Case.objects.filter(
                account_id__in=[low, high], state__in=OPEN_STATES
            ).values_list("pk", flat=True):
                case = _lock_case(case_id)
                _append_event(
                    case=case,
                    actor=actor,
                    action=EventAction.LINK_FALSE_POSITIVE,
                    at=now,
                    reason=reason,
                    data={"accounts": [names[low], names[high]]},
                )
    except IntegrityError:
        raise Conflict(detail="This link is already marked as a false positive.") from None


def account_links_get(*, external_id: str, with_false_positives: bool = False) -> list[Link] | None:
    """The links of an account with each other account's open case; ``None``: no such account."""
    account_id = Account.objects.filter(external_id=external_id).values_list("pk", flat=True)
    found = next(iter(account_id), None)
    if found is None:
        return None
    links = links_find(account_id=found, with_false_positives=with_false_positives)
    if links:
        open_cases = dict(
            Case.objects.filter(
                account_id__in=[link.account_id for link in links], state__in=OPEN_STATES
            ).values_list("account_id", "pk")
        )
        for link in links:
            link.open_case_id = open_cases.get(link.account_id)
    return links


@dataclass
class QueuedCase:
    """An open case that holds a ban evasion incident, with the restricted accounts it names."""

    case: Case
    restricted: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


QUEUE_LIMIT = 200


def evasion_queue(*, limit: int = QUEUE_LIMIT) -> list[QueuedCase]:
    """Open cases with a ``ban_evasion_suspected`` incident, most urgent then oldest first, with
    the restricted accounts and kinds their signals name. Two queries."""
    rank = Case.objects.filter(state__in=OPEN_STATES, incidents__kind=SIGNAL_KIND)
    cases = list(
        rank.select_related("account", "assignee")
        .distinct()
        .order_by(_priority_order(), "created_at", "pk")[:limit]
    )
    queued = {case.pk: QueuedCase(case) for case in cases}
    if queued:
        evidence = Signal.objects.filter(
            kind=SIGNAL_KIND, incidents__case_id__in=list(queued)
        ).values_list("incidents__case_id", "evidence")
        for case_id, data in evidence:
            entry = queued[case_id]
            name = str(data.get("restricted_account", ""))
            if name and name not in entry.restricted:
                entry.restricted.append(name)
            for kind in data.get("kinds", []):
                if kind not in entry.kinds:
                    entry.kinds.append(str(kind))
    for entry in queued.values():
        entry.kinds.sort()
    return list(queued.values())


def _priority_order() -> Any:
    return Case_(
        *[When(priority=p, then=Value(rank)) for p, rank in PRIORITY_RANK.items()],
        default=Value(len(PRIORITY_RANK)),
    )
