from django.db import models


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail to the account"
    WEBHOOK = "webhook", "Webhook"
    STAFF = "staff", "E-mail to staff"


class NoticeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    # Not delivered because the endpoint answered 410 Gone and was disabled; kept, and sent
    # again if a lead enables the endpoint again.
    STOPPED = "stopped", "Stopped (endpoint gone)"


class WebhookEvent(models.TextChoices):
    SUSPENDED = "enforcement.suspended"
    RESTRICTED = "enforcement.restricted"
    REINSTATED = "enforcement.reinstated"
    TERMINATED = "enforcement.terminated"
    CASE_TRANSITIONED = "case.transitioned"


class PropagationState(models.TextChoices):
    """How far a partner has followed one enforcement change (partners.md)."""

    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    APPLIED = "applied", "Applied"
    DECLINED = "declined", "Declined"
    UNDELIVERABLE = "undeliverable", "Undeliverable"


# States a partner's report ends in; and those in which the webhook is still on its way.
REPORTED_STATES = (PropagationState.APPLIED, PropagationState.DECLINED)
UNACKNOWLEDGED_STATES = (
    PropagationState.PENDING,
    PropagationState.DELIVERED,
    PropagationState.UNDELIVERABLE,
)


class PropagationTrigger(models.TextChoices):
    CHANGE = "change", "The account's enforcement changed"
    CHANNEL_ADDED = "channel_added", "The partner gained a channel to a restricted account"


class PartnerOutcome(models.TextChoices):
    APPLIED = "applied", "Applied"
    DECLINED = "declined", "Declined"


class FollowUp(models.TextChoices):
    """What a partner still owes on a change (partners.md "Follow-up")."""

    ACK = "acknowledgement", "Acknowledgement"
    REPORT = "report", "Report"
