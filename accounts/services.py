"""Writes to accounts, partners and API clients.

Enforcement fields of an account are never written here: they are derived from its cases by
``cases.services``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from config.lookups import among
from core.actors import Actor
from core.errors import Forbidden, InvalidInput
from core.roles import Role, role_allows

from .authentication import key_generate
from .cache import api_key_invalidate_on_commit
from .choices import PARTNER_SCOPES, LinkStrength, PartnerKind, Scope, Tier
from .external_ids import RULE as EXTERNAL_ID_RULE
from .external_ids import is_external_id
from .identifiers import Identifier, IdentifierKind, registrable_domain
from .models import (
    Account,
    AccountIdentifier,
    ApiClient,
    Channel,
    CommonDomain,
    EvasionPolicy,
    IdentifierKindSetting,
    Partner,
)

DIRECT = "direct"


class ApiClientError(Exception):
    """Bad input to an API client command (unknown scope, duplicate name, unknown client)."""


def partner_upsert(
    *, code: str, name: str, kind: str = PartnerKind.CLOUD, contact_email: str | None = None
) -> tuple[Partner, bool]:
    """Create or update a partner by its code; ``(partner, created)``.

    ``contact_email`` is where the follow-up reminders go (partners.md "Follow-up"); ``None``
    keeps the current one (none for a new partner), ``""`` removes it.
    """
    if kind not in PartnerKind.values:
        raise InvalidInput(detail=f"Unknown partner kind '{kind}'.", field="kind")
    defaults: dict[str, Any] = {"name": name, "kind": kind}
    if contact_email is not None:
        contact_email = contact_email.strip()
        if contact_email:
            try:
                validate_email(contact_email)
            except ValidationError:
                raise InvalidInput(
                    detail="contact_email is not a valid e-mail address.", field="contact_email"
                ) from None
        defaults["contact_email"] = contact_email
    with transaction.atomic():
        partner, created = Partner.objects.update_or_create(code=code, defaults=defaults)
    return partner, created


def _partners_for(codes: Sequence[str]) -> tuple[bool, list[Partner]]:
    wanted = [c for c in dict.fromkeys(codes) if c != DIRECT]
    partners = {p.code: p for p in Partner.objects.filter(code__in=wanted)}
    unknown = [c for c in wanted if c not in partners]
    if unknown:
        raise InvalidInput(
            detail=f"Unknown partner code(s) in channels: {', '.join(unknown)}.", field="channels"
        )
    return DIRECT in codes, [partners[c] for c in wanted]


def account_upsert(
    *,
    external_id: str,
    name: str | None = None,
    tier: str | None = None,
    contacts: Iterable[str] | None = None,
    channels: Sequence[str] | None = None,
) -> tuple[Account, bool]:
    """Create or update an account by its external id; ``(account, created)``.

    Fields given as ``None`` keep their current value (their default on creation).
    ``channels`` lists partner codes and ``"direct"``; it replaces the account's channels.
    """
    if not is_external_id(external_id):
        raise InvalidInput(detail=EXTERNAL_ID_RULE, field="external_id")
    if tier is not None and tier not in Tier.values:
        raise InvalidInput(detail=f"Unknown tier '{tier}'.", field="tier")
    direct, partners = _partners_for(channels) if channels is not None else (None, None)
    defaults: dict[str, Any] = {}
    if name is not None:
        defaults["name"] = name
    if tier is not None:
        defaults["tier"] = tier
    if contacts is not None:
        defaults["contacts"] = list(dict.fromkeys(contacts))
    if direct is not None:
        defaults["direct"] = direct
    with transaction.atomic():
        account, created = Account.objects.update_or_create(
            external_id=external_id, defaults=defaults
        )
        if partners is not None:
            wanted = {p.pk for p in partners}
            current = set(account.channels.values_list("partner_id", flat=True))
            if current - wanted:
                account.channels.filter(partner_id__in=current - wanted).delete()
            Channel.objects.bulk_create(
                [Channel(account=account, partner_id=pk) for pk in wanted - current],
                ignore_conflicts=True,
            )
            if wanted - current:
                # A partner that gains a channel to a restricted account is told at once
                # (partners.md); notifications owns who hears of what.
                from notifications.services import notices_record_for_new_channels

                notices_record_for_new_channels(account=account, partner_ids=wanted - current)
    return account, created


def account_identifiers_add(
    *, account: Account, identifiers: Sequence[Identifier], new_account: bool = False
) -> list[str]:
    """Add identifiers (already normalised and hashed) to an account; the digests that are new.

    Identifiers are only ever added: one the account already has is kept as it is, and an
    identifier billing no longer sends still links the account (a terminated customer's card
    stays its card). Two queries whatever the number; one for an account just created
    (``new_account``), which has none yet.
    """
    wanted = {i.digest: i for i in identifiers}
    if not wanted:
        return []
    have: set[str] = set()
    if not new_account:
        have = set(
            AccountIdentifier.objects.filter(account=account, digest__in=list(wanted)).values_list(
                "digest", flat=True
            )
        )
    new = [i for digest, i in wanted.items() if digest not in have]
    if new:
        now = timezone.now()
        AccountIdentifier.objects.bulk_create(
            [
                AccountIdentifier(account=account, kind=i.kind, digest=i.digest, created_at=now)
                for i in new
            ],
            ignore_conflicts=True,
        )
    return [i.digest for i in new]


def accounts_ensure(
    *, external_ids: Iterable[str], looked_up: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Ids of the accounts with these external ids, creating the unknown ones (set-based).

    Accounts first seen in a signal are created with only their external id; billing fills
    in the rest with ``PUT /accounts/{external_id}``. ``looked_up`` is what
    ``account_ids_query`` answered for these external ids when the caller already ran it
    (accounts are never deleted, so an id read earlier stays valid): only the accounts it lacks
    are created, and no lookup is repeated.
    """
    wanted = list(dict.fromkeys(external_ids))
    if looked_up is None:
        found = dict(account_ids_query(external_ids=wanted))
    else:
        found = {e: looked_up[e] for e in wanted if e in looked_up}
    missing = sorted(e for e in wanted if e not in found)  # one lock order for every batch
    if missing:
        now = timezone.now()
        Account.objects.bulk_create(
            [
                Account(external_id=e, enforcement_since=now, created_at=now, updated_at=now)
                for e in missing
            ],
            ignore_conflicts=True,
        )
        found.update(account_ids_query(external_ids=missing))
    return found


def account_ids_query(*, external_ids: Iterable[str]) -> QuerySet[Account, tuple[str, int]]:
    """``(external_id, id)`` of the accounts that exist among these, in one query."""
    return Account.objects.filter(among("external_id", external_ids)).values_list(
        "external_id", "id"
    )


def api_client_create(
    *,
    name: str,
    scopes: Sequence[str],
    role: str = Role.ANALYST,
    staff_tool: bool = False,
    partner: str | None = None,
) -> tuple[ApiClient, str]:
    """A new client and its key; the key is returned once and only its hash is stored.

    A ``staff_tool`` is an internal tool whose requests may name the staff member using it
    (``Acting-User``): that person is then recorded as the one who acted. A ``partner``'s key
    (its code) holds the partner scopes and only those: it sees only that partner's accounts;
    and the partner scopes belong to partner keys alone."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiClientError("name must be 1 to 100 characters")
    unknown = [s for s in scopes if s not in Scope.values]
    if unknown or not scopes:
        raise ApiClientError(
            f"unknown scope(s): {', '.join(unknown)}; choose from {', '.join(Scope.values)}"
            if unknown
            else "give at least one --scope"
        )
    if role not in Role.values:
        raise ApiClientError(f"unknown role '{role}'; choose from {', '.join(Role.values)}")
    bound = None
    if partner is not None:
        bound = Partner.objects.filter(code=partner).first()
        if bound is None:
            raise ApiClientError(f"unknown partner '{partner}'")
        others = [s for s in scopes if s not in PARTNER_SCOPES]
        if others:
            raise ApiClientError(
                f"a partner's key holds only {' and '.join(sorted(PARTNER_SCOPES))}, "
                f"not {', '.join(others)}"
            )
        if staff_tool:
            raise ApiClientError("a partner's key cannot be a staff tool")
    elif any(s in PARTNER_SCOPES for s in scopes):
        raise ApiClientError(
            "the partner scopes need --partner CODE: a partner's key sees only its own accounts"
        )
    key, prefix, digest = key_generate()
    try:
        with transaction.atomic():
            client = ApiClient.objects.create(
                name=name,
                key_prefix=prefix,
                key_hash=digest,
                scopes=list(dict.fromkeys(scopes)),
                role=role,
                staff_tool=staff_tool,
                partner=bound,
            )
    except IntegrityError:
        raise ApiClientError(f"an API client named '{name}' already exists") from None
    return client, key


def api_client_revoke(*, name: str) -> ApiClient:
    """Revoke a client's key at once: its next request is refused, cached or not."""
    with transaction.atomic():
        client = ApiClient.objects.select_for_update().filter(name=name).first()
        if client is None:
            raise ApiClientError(f"no API client named '{name}'")
        if client.revoked_at is None:
            client.revoked_at = timezone.now()
            ApiClient.objects.filter(pk=client.pk).update(revoked_at=client.revoked_at)
        api_key_invalidate_on_commit(client.key_prefix)
    return client


def _require_lead(actor: Actor, what: str) -> None:
    if not role_allows(actor.role, Role.LEAD):
        raise Forbidden(detail=f"Only a lead may {what}.")


def common_domain_save(*, domain: CommonDomain, actor: Actor) -> CommonDomain:
    """Add or change a domain that is never matched (leads); stored as its registrable domain.
    It stops matching at once, for identifiers stored before as for new ones."""
    _require_lead(actor, "edit the common domains")
    domain.domain = registrable_domain(domain.domain)
    domain.note = domain.note.strip()
    try:
        with transaction.atomic():
            domain.save()
    except IntegrityError:
        raise InvalidInput(detail=f"{domain.domain} is listed already.", field="domain") from None
    return domain


def common_domain_delete(*, domain: CommonDomain, actor: Actor) -> None:
    """Take a domain off the list (leads): identifiers of it match again from now on."""
    _require_lead(actor, "edit the common domains")
    with transaction.atomic():
        CommonDomain.objects.filter(pk=domain.pk).delete()


def identifier_kind_setting_save(
    *, setting: IdentifierKindSetting, actor: Actor
) -> IdentifierKindSetting:
    """Set how strong a shared identifier of a kind is (leads); matching reads it on every run."""
    _require_lead(actor, "tune ban evasion matching")
    if setting.strength not in LinkStrength.values:
        raise InvalidInput(detail=f"Unknown strength '{setting.strength}'.", field="strength")
    with transaction.atomic():
        IdentifierKindSetting.objects.update_or_create(
            kind=setting.kind, defaults={"strength": setting.strength}
        )
    return IdentifierKindSetting.objects.get(kind=setting.kind)


def evasion_policy_save(*, weak_kinds_required: int, actor: Actor) -> EvasionPolicy:
    """Set how many weak kinds make a link worth a signal (leads); at least 1."""
    _require_lead(actor, "tune ban evasion matching")
    if weak_kinds_required < 1 or weak_kinds_required > len(IdentifierKind.values):
        raise InvalidInput(
            detail=f"Between 1 and {len(IdentifierKind.values)} kinds.",
            field="weak_kinds_required",
        )
    with transaction.atomic():
        policy, _ = EvasionPolicy.objects.update_or_create(
            pk=1, defaults={"weak_kinds_required": weak_kinds_required}
        )
    return policy
