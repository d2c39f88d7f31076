"""Evidence items (files and frozen snapshots) and their chain of custody.

Kept apart from ``cases.models`` (which imports them at its end, so that Django finds them
there) to keep that module under the size a module is split at. Both tables are write-once: the
ORM refuses updates and deletes (``AppendOnlyModel``) and so does the database
(``cases.guards``, migration 0017). The content itself lives in the ``evidence`` storage
(``cases.evidence_store``), under a name that is never reused.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import ApiClient
from core.actors import ActorKind

from .choices import CustodyAction, EvidenceKind
from .models import AppendOnlyModel


class EvidenceItem(AppendOnlyModel):
    """One piece of evidence of a case: its content's hash, size and type, who acquired it and
    when. Never changed: a mistaken upload stays on the record, explained by a note."""

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="evidence_items")
    kind = models.CharField(max_length=16, choices=EvidenceKind.choices)
    name = models.CharField(max_length=255, help_text="The file's name as acquired.")
    description = models.TextField(blank=True)
    media_type = models.CharField(max_length=127)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    storage_name = models.CharField(max_length=500, unique=True)
    acquired_at = models.DateTimeField(default=timezone.now)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    acquired_by = models.CharField(max_length=200)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A snapshot: the timeline event (suspend, terminate) whose decision it freezes.
    event = models.ForeignKey(
        "cases.CaseEvent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="snapshots",
    )

    class Meta:
        ordering = ["acquired_at", "id"]
        indexes = [models.Index(fields=["case", "acquired_at"], name="evidence_item_case_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.sha256[:12]})"


class CustodyEvent(AppendOnlyModel):
    """One step in an item's chain of custody: who did what with it, when and why.

    Numbered from 1 per item and chained by hash (``cases.custody``); the first, ``acquired``,
    covers the item's own record, so a changed item breaks its chain."""

    item = models.ForeignKey(EvidenceItem, on_delete=models.PROTECT, related_name="custody")
    seq = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=16, choices=CustodyAction.choices)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_label = models.CharField(max_length=200)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["item_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["item", "seq"], name="custody_event_seq_unique")
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} of evidence {self.item_id}"


class LegalHold(models.Model):
    """A legal hold on an account or a case: while it is active, nothing of it is purged.

    Placed and released by leads; the content is fixed once placed and the release is recorded
    once (``cases.guards``); a released hold stays on the record, never deleted."""

    account = models.ForeignKey(
        "accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="holds"
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="holds"
    )
    reason = models.TextField()
    legal_reference = models.CharField(max_length=200, help_text="Matter, court or request id.")
    review_date = models.DateField(help_text="When a lead reviews whether the hold still holds.")
    placed_at = models.DateTimeField(default=timezone.now)
    placed_by = models.CharField(max_length=200)
    placed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=200, blank=True)
    release_reason = models.TextField(blank=True)
    # The review reminder's bookkeeping (the deadline sweep): the review date it was sent for.
    reminded_for = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(account__isnull=False, case__isnull=True)
                    | models.Q(account__isnull=True, case__isnull=False)
                ),
                name="legal_hold_on_account_or_case",
            )
        ]
        indexes = [
            models.Index(
                fields=["review_date"],
                condition=models.Q(released_at__isnull=True),
                name="legal_hold_active_review_idx",
            )
        ]

    def __str__(self) -> str:
        target = f"account {self.account_id}" if self.account_id else f"case {self.case_id}"
        return f"Hold {self.legal_reference} on {target}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class PurgeRecord(AppendOnlyModel):
    """One run of the retention purge (``cases.retention``): what it deleted, kind by kind, and
    what active legal holds kept. Counts only, never the content. Each case it touched also
    has a ``purged`` event on its timeline."""

    at = models.DateTimeField(default=timezone.now)
    actor_label = models.CharField(max_length=200)
    # Per kind: the retention period in days and the cut-off it applied.
    periods = models.JSONField(default=dict)
    cutoffs = models.JSONField(default=dict)
    # Per kind: rows deleted (dismissed_cases: cases whose records went), and the rows within
    # the dismissed cases (signals, incidents, evidence items, custody events).
    counts = models.JSONField(default=dict)
    # [{"hold", "legal_reference", "on", "counts"}]: what each active hold kept.
    held = models.JSONField(default=list, blank=True)
    cases = models.PositiveIntegerField(default=0, help_text="Timelines that record it.")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"Purge at {self.at:%Y-%m-%d %H:%M}"
