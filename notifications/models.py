"""The outbox of notices and the webhook endpoints they go to.

A ``Notice`` row is written in the same transaction as the change that caused it; a task sends
it after commit and a periodic sweep re-queues any that were never picked up.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, Partner
from cases.models import Case, EnforcementChange

from .choices import Channel, NoticeStatus, PropagationState, PropagationTrigger


class WebhookEndpoint(models.Model):
    """Where a partner (or another subscriber) receives signed events."""

    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.CASCADE, related_name="endpoints"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list)
    # Fernet ciphertext of the whsec_ secret (see notifications.crypto); never shown or logged.
    secret = models.CharField(max_length=500, help_text="whsec_ secret (stored encrypted).")
    active = models.BooleanField(default=True)
    # Set when the endpoint disabled itself (its receiver answered 410 Gone); cleared when a
    # lead enables it again (``notifications.services.endpoint_enable``).
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # The lane: the worker sending to this endpoint holds it (a token, until a time), so that
    # its notices go out one batch at a time (``notifications.delivery``).
    lane = models.UUIDField(null=True, blank=True, editable=False)
    lane_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class Propagation(models.Model):
    """One enforcement change as one partner of the account follows it (partners.md).

    Made in the transaction that records the change (or that gives the partner a channel to a
    restricted account: then ``change`` is the account's latest change and ``trigger`` says
    so). ``seq`` is the row's place in the partners' feed, handed out in commit order like the
    enforcement feed's: a partner that follows ``seq`` never skips a late commit. The follow-up
    stamps (``*_reminded_at``, ``*_escalated_at``) are set once, so nobody is told twice.
    """

    seq = models.BigIntegerField(unique=True)
    change = models.ForeignKey(
        EnforcementChange, on_delete=models.PROTECT, related_name="propagations"
    )
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="propagations")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="propagations")
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="propagations"
    )
    trigger = models.CharField(
        max_length=16, choices=PropagationTrigger.choices, default=PropagationTrigger.CHANGE
    )
    state = models.CharField(
        max_length=16, choices=PropagationState.choices, default=PropagationState.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    partner_reference = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    # Why it is undeliverable (no active endpoint, the endpoint answered 410 ...).
    undeliverable_reason = models.CharField(max_length=300, blank=True)
    ack_reminded_at = models.DateTimeField(null=True, blank=True)
    ack_escalated_at = models.DateTimeField(null=True, blank=True)
    report_reminded_at = models.DateTimeField(null=True, blank=True)
    report_escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["change", "partner"], name="propagation_unique")
        ]
        indexes = [
            models.Index(fields=["partner", "seq"], name="propagation_partner_feed_idx"),
            models.Index(
                fields=["created_at"],
                condition=~Q(state__in=["applied", "declined"]),
                name="propagation_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"change {self.change_id} → {self.partner_id}: {self.state}"


class Notice(models.Model):
    """One message to one recipient: the outbox row and its delivery state."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.PROTECT, related_name="notices"
    )
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="notices"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    event = models.CharField(max_length=64)
    recipient = models.CharField(max_length=500, help_text="E-mail address or endpoint URL.")
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="notices"
    )
    # The partner's follow-up of the enforcement change this webhook announces, if it is one.
    propagation = models.ForeignKey(
        Propagation, null=True, blank=True, on_delete=models.PROTECT, related_name="notices"
    )
    subject = models.CharField(max_length=300, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True)
    statement = models.JSONField(default=dict, blank=True, help_text="Statement of reasons.")
    status = models.CharField(
        max_length=16, choices=NoticeStatus.choices, default=NoticeStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The statement of reasons' ``reference`` (DSA ``puid``), shared by the notices of one decision.
    statement_reference = models.CharField(max_length=64, blank=True, db_index=True)
    # Outbox bookkeeping: when a send task was last put on the broker (NULL once a worker took
    # it), and the lease of the worker that is delivering it now.
    queued_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    lease = models.UUIDField(null=True, blank=True, editable=False)
    redelivered_at = models.DateTimeField(null=True, blank=True)
    redelivered_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "sending", "retrying"]),
                name="notice_due_idx",
            ),
            models.Index(fields=["case", "created_at"], name="notice_case_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.recipient}"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.id.hex}"


class DeliveryAttempt(models.Model):
    """One try at delivering a notice."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="attempts_log")
    at = models.DateTimeField(default=timezone.now)
    succeeded = models.BooleanField(default=False)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        outcome = "ok" if self.succeeded else (self.error or str(self.status_code))
        return f"attempt at {self.at:%Y-%m-%d %H:%M:%S}: {outcome}"
