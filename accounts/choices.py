from django.db import models


class EnforcementStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    RESTRICTED = "restricted", "Restricted"
    SUSPENDED = "suspended", "Suspended"
    TERMINATED = "terminated", "Terminated"


# Most severe last: an account's status is the most severe over its restrictions in force.
ENFORCEMENT_SEVERITY = {
    EnforcementStatus.ACTIVE: 0,
    EnforcementStatus.RESTRICTED: 1,
    EnforcementStatus.SUSPENDED: 2,
    EnforcementStatus.TERMINATED: 3,
}


class Tier(models.TextChoices):
    FREE = "free", "Free"
    BUILD = "build", "Build"
    SCALE = "scale", "Scale"
    ENTERPRISE = "enterprise", "Enterprise"


class PartnerKind(models.TextChoices):
    CLOUD = "cloud", "Cloud platform"
    RESELLER = "reseller", "Reseller"


class Scope(models.TextChoices):
    ENFORCEMENT_READ = "enforcement:read"
    SIGNALS_WRITE = "signals:write"
    ACCOUNTS_READ = "accounts:read"
    ACCOUNTS_WRITE = "accounts:write"
    CASES_READ = "cases:read"
    CASES_WRITE = "cases:write"
    # Filing and withdrawing appeals on an account's behalf (the customer portal, support tools).
    APPEALS_WRITE = "appeals:write"
    # A partner's own key (bound to one partner): its feed, and acknowledging and reporting what
    # it did about each change (partners.md).
    PARTNER_READ = "partner:read"
    PARTNER_REPORT = "partner:report"


# The scopes a key bound to a partner holds, and only such a key: a partner sees nothing of
# accounts that do not reach the API through it.
PARTNER_SCOPES = frozenset({Scope.PARTNER_READ, Scope.PARTNER_REPORT})


class LinkStrength(models.TextChoices):
    """What a shared identifier of a kind says: alone (strong), with other kinds (weak), nothing."""

    STRONG = "strong", "Strong: one match is reported"
    WEAK = "weak", "Weak: reported with other weak kinds"
    IGNORED = "ignored", "Ignored: never reported"
