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
