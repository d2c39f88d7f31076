from django.db import models


class EnforcementStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    TERMINATED = "terminated", "Terminated"


# Most severe last: an account's status is the maximum over its cases.
ENFORCEMENT_SEVERITY = {
    EnforcementStatus.ACTIVE: 0,
    EnforcementStatus.SUSPENDED: 1,
    EnforcementStatus.TERMINATED: 2,
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
