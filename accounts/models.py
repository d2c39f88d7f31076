"""Customer accounts, the partners they reach the API through, and API clients."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models
from django.utils import timezone

from .choices import EnforcementStatus, LinkStrength, PartnerKind, Tier
from .external_ids import MAX_LENGTH as EXTERNAL_ID_MAX_LENGTH
from .external_ids import validate_external_id
from .identifiers import IdentifierKind

if TYPE_CHECKING:
    from cases.models import Case


class Partner(models.Model):
    """A reseller or cloud platform through which accounts reach the API."""

    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=PartnerKind.choices, default=PartnerKind.CLOUD)
    contact_email = models.EmailField(
        blank=True,
        help_text="Where reminders go when the partner has not acknowledged or reported a change.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Account(models.Model):
    """A customer organisation, known by the id of the provider's billing system."""

    external_id = models.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH, unique=True, validators=[validate_external_id]
    )
    name = models.CharField(max_length=200, blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.BUILD)
    contacts = models.JSONField(default=list, blank=True, help_text="E-mail addresses for notices.")
    direct = models.BooleanField(default=True, help_text="Reaches the API directly.")
    partners: models.ManyToManyField[Partner, Channel] = models.ManyToManyField(
        Partner, through="Channel", related_name="accounts", blank=True
    )
    # Derived from the restrictions in force by cases.services.enforcement; never edited by
    # hand. ``enforcement_restrictions`` holds them as the lookup reports them, so that the
    # gateway's lookup is one indexed read; a reader drops those past their ``ends_at``.
    enforcement_status = models.CharField(
        max_length=16, choices=EnforcementStatus.choices, default=EnforcementStatus.ACTIVE
    )
    enforcement_since = models.DateTimeField(default=timezone.now)
    enforcement_until = models.DateTimeField(null=True, blank=True)
    enforcement_restrictions = models.JSONField(default=list, blank=True)
    enforcement_case: models.ForeignKey[Case | None, Case | None] = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["external_id"]
        indexes = [models.Index(fields=["enforcement_status"], name="account_status_idx")]

    def __str__(self) -> str:
        return self.name or self.external_id

    @property
    def channel_codes(self) -> list[str]:
        codes = ["direct"] if self.direct else []
        return codes + [p.code for p in self.partners.all()]


class Channel(models.Model):
    """The account reaches the API through this partner."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="channels")
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="channels")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "partner"], name="channel_unique")
        ]

    def __str__(self) -> str:
        return f"via {self.partner.code}"


class ApiClient(models.Model):
    """Another system that calls the REST API with a bearer key.

    Only a SHA-256 hash of the key is stored; ``key_prefix`` finds the row in one indexed read.
    ``role`` bounds which case transitions a client with ``cases:write`` may take. A client acts
    as an automation, unless it is a ``staff_tool`` whose request names the staff member using it.
    """

    name = models.CharField(max_length=100, unique=True)
    key_prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    role = models.CharField(max_length=16, default="analyst")
    # A partner's key: it sees only that partner's feed and accounts (partners.md).
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="api_clients"
    )
    staff_tool = models.BooleanField(
        default=False,
        help_text="An internal tool used by staff: its requests may name the staff member "
        "acting (the Acting-User header), who is then recorded as the one who decided.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyKey(models.Model):
    """A retried write's first outcome, kept so that a retry replays it instead of acting twice.

    ``owner`` names the caller (``client:<id>`` or ``user:<id>``): keys of different callers never
    collide. A row is inserted before the work runs (``response_status`` null: in flight) and
    completed with the response after it; see docs/adr on idempotency keys.
    """

    owner = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_key_unique")
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.owner}:{self.key}"


class AccountIdentifier(models.Model):
    """An identifier of an account (accounts/identifiers.py), kept only as its keyed hash.

    ``digest`` covers the kind and the normal form, so one indexed read of the digests finds every
    account that shares one; the value itself is never stored (docs/adr/0016).
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=32, choices=IdentifierKind.choices)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["account_id", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "digest"], name="account_identifier_unique")
        ]
        indexes = [models.Index(fields=["digest"], name="identifier_digest_idx")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.account_id}"


class CommonDomain(models.Model):
    """A free-mail or hosting provider's domain: shared by unrelated customers, never matched."""

    domain = models.CharField(max_length=253, unique=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class IdentifierKindSetting(models.Model):
    """How much a shared identifier of one kind says (leads tune it; docs/admin.md)."""

    kind = models.CharField(max_length=32, choices=IdentifierKind.choices, unique=True)
    strength = models.CharField(max_length=8, choices=LinkStrength.choices)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.strength}"


class EvasionPolicy(models.Model):
    """The one row of matching settings: how many weak kinds make a link worth a signal."""

    weak_kinds_required = models.PositiveSmallIntegerField(
        default=2,
        help_text="A link of weak kinds only is reported when at least this many kinds match.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "evasion policy"

    def __str__(self) -> str:
        return f"{self.weak_kinds_required} weak kinds"


class AccountLinkDismissal(models.Model):
    """A link between two accounts that a lead found to be a false positive: never matched again.

    The pair is kept in one order (``low`` has the smaller id), so one row covers both ways.
    """

    low = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    high = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    reason = models.TextField()
    marked_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["low", "high"], name="account_link_dismissal_unique"),
            models.CheckConstraint(
                condition=models.Q(low__lt=models.F("high")), name="account_link_dismissal_order"
            ),
        ]
        indexes = [models.Index(fields=["high"], name="link_dismissal_high_idx")]

    def __str__(self) -> str:
        return f"{self.low_id} ~ {self.high_id} (false positive)"
