"""Canned reasons: the reasons leads write once and staff pick when they act on a case.

Kept apart from ``cases.models`` (which imports it at its end, so that Django finds it there) to
keep that module under the size a module is split at. A canned reason is a setting, not a
record: a case's timeline keeps the text as it was applied, so changing or deactivating a
canned reason later changes no case. Rows are written by ``cases.services.canned_reasons`` only,
and never deleted (a reason no longer wanted is deactivated).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from .workflow import ACTIONS

TITLE_MAX = 100


def validate_actions(value: Any) -> None:
    """A non-empty list of the workflow's action names (``cases.workflow.ACTIONS``)."""
    if not isinstance(value, list) or not value:
        raise ValidationError("Choose at least one action the reason applies to.")
    unknown = [a for a in value if a not in ACTIONS]
    if unknown:
        raise ValidationError(
            "Unknown action(s): %(unknown)s.", params={"unknown": ", ".join(map(str, unknown))}
        )


class CannedReason(models.Model):
    """A reason as it is written into a case, offered for the actions it applies to.

    ``actions`` is a JSON list of action names rather than an array column, so that it works
    the same on SQLite and PostgreSQL; the table is small, so the forms filter it in Python.
    """

    title = models.CharField(
        max_length=TITLE_MAX, unique=True, help_text="What staff pick it by, in the forms."
    )
    text = models.TextField(help_text="The reason as it is written into the case.")
    actions = models.JSONField(
        default=list,
        validators=[validate_actions],
        help_text="The actions whose forms offer it.",
    )
    active = models.BooleanField(
        default=True, help_text="Only active reasons are offered; a reason is never deleted."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who last changed it (empty: the system).",
    )

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def applies_to(self, action: str) -> bool:
        return action in self.actions
