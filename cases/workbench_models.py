"""What staff keep for themselves on the workbench: saved views of the case list.

Kept apart from ``cases.models`` (which imports them at its end, so that Django finds them
there) to keep that module under the size a module is split at. A saved view is one person's
preference, not part of any case's record: it is theirs alone to see and delete, and it goes
when their user does.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

SAVED_VIEW_NAME_MAX = 80
SAVED_VIEW_QUERY_MAX = 1000


class SavedView(models.Model):
    """A named query string of the case list (its filters, search and ordering)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=SAVED_VIEW_NAME_MAX)
    query = models.CharField(
        max_length=SAVED_VIEW_QUERY_MAX,
        blank=True,
        help_text="The case list's query string, cleaned to the parameters it accepts.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_view_name_per_user")
        ]

    def __str__(self) -> str:
        return self.name
