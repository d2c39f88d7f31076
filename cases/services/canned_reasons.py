"""Canned reasons, which leads keep: adding one, changing it, deactivating it.

The transition forms offer the active ones for their action and write the resulting text into
the case (``cases.admin.forms``); nothing here touches a case. A reason is never deleted: a
deactivated one is no longer offered, and the cases it was used on keep its words. Each write
stamps who made it and when, and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import InvalidInput, NotFound

from ..actions import MAX_TEXT
from ..canned_models import TITLE_MAX, validate_actions
from ..models import CannedReason
from ..workflow import ACTIONS
from .policies import _require_lead

logger = logging.getLogger(__name__)


def _checked(*, title: str, text: str, actions: Sequence[str]) -> tuple[str, str, list[str]]:
    """The title and text trimmed, and the actions in the workflow's order, or a refusal in
    words a lead reads (the form shows it as it is)."""
    title = (title or "").strip()
    text = (text or "").strip()
    if not title:
        raise InvalidInput(detail="Give the canned reason a title.", field="title")
    if len(title) > TITLE_MAX:
        raise InvalidInput(
            detail=f"The title is longer than {TITLE_MAX} characters.", field="title"
        )
    if not text:
        raise InvalidInput(detail="Write the reason's text.", field="text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(detail=f"The text is longer than {MAX_TEXT} characters.", field="text")
    chosen = list(actions) if not isinstance(actions, str) else [actions]
    try:
        validate_actions(chosen)
    except ValidationError as exc:
        raise InvalidInput(detail=" ".join(exc.messages), field="actions") from None
    return title, text, [a for a in ACTIONS if a in chosen]


def _user(actor: Actor) -> object | None:
    return actor.user if actor.user is not None and actor.user.pk else None


def canned_reason_save(
    *,
    canned_reason: CannedReason | int | None,
    title: str,
    text: str,
    actions: Sequence[str],
    active: bool,
    actor: Actor,
) -> CannedReason:
    """Add a canned reason (``canned_reason=None``) or change one (leads).

    The row is locked while it changes, so two leads saving at once both land, one after the
    other, each stamped with who made it. A title another reason has is refused.
    """
    _require_lead(actor, "edit canned reasons")
    title, text, actions = _checked(title=title, text=text, actions=actions)
    now = timezone.now()
    fields = {
        "title": title,
        "text": text,
        "actions": actions,
        "active": bool(active),
        "updated_at": now,
        "updated_by": _user(actor),
    }
    try:
        with transaction.atomic():
            if canned_reason is None:
                saved = CannedReason.objects.create(created_at=now, **fields)
            else:
                pk = canned_reason.pk if isinstance(canned_reason, CannedReason) else canned_reason
                if not CannedReason.objects.select_for_update().filter(pk=pk).exists():
                    raise NotFound(detail=f"Canned reason {pk} does not exist.")
                CannedReason.objects.filter(pk=pk).update(**fields)
                saved = CannedReason.objects.get(pk=pk)
    except IntegrityError:
        raise InvalidInput(
            detail=f"Another canned reason is titled '{title}'.", field="title"
        ) from None
    logger.info("canned reason %s (%s) saved by %s", saved.pk, saved.title, actor.label)
    return saved


def canned_reason_deactivate(*, canned_reason: CannedReason | int, actor: Actor) -> bool:
    """Stop offering a canned reason (leads); whether it was active until now. The cases it was
    used on keep its text."""
    _require_lead(actor, "deactivate canned reasons")
    pk = canned_reason.pk if isinstance(canned_reason, CannedReason) else canned_reason
    with transaction.atomic():
        changed = CannedReason.objects.filter(pk=pk, active=True).update(
            active=False, updated_at=timezone.now(), updated_by=_user(actor)
        )
    if changed:
        logger.info("canned reason %s deactivated by %s", pk, actor.label)
    return bool(changed)
