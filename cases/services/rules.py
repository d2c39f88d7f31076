"""The rules leads keep: flag rules (signals to incidents) and review deadline rules.

The admin's forms build the rule; these functions check the actor and the row, then write it.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction

from core.actors import Actor
from core.errors import InvalidInput

from ..models import FlagRule, ReviewDeadlineRule
from .policies import _require_lead

logger = logging.getLogger(__name__)


def _checked(rule: FlagRule | ReviewDeadlineRule) -> None:
    try:
        rule.full_clean()
    except ValidationError as exc:
        field, errors = next(iter(exc.message_dict.items()))
        raise InvalidInput(
            detail=f"{field}: {' '.join(errors)}",
            field=None if field == "__all__" else field,
        ) from None


def flag_rule_save(*, rule: FlagRule, actor: Actor) -> FlagRule:
    """Create or change a flag rule (leads). Intake reads the active rules on every batch."""
    _require_lead(actor, "edit flag rules")
    _checked(rule)
    with transaction.atomic():
        rule.save()
    logger.info("flag rule %s (%s) saved by %s", rule.pk, rule.name, actor.label)
    return rule


def flag_rule_delete(*, rule: FlagRule, actor: Actor) -> None:
    """Delete a flag rule (leads); incidents it made keep their rows, without the rule."""
    _require_lead(actor, "delete flag rules")
    with transaction.atomic():
        FlagRule.objects.filter(pk=rule.pk).delete()
    logger.info("flag rule %s (%s) deleted by %s", rule.pk, rule.name, actor.label)


def review_deadline_rule_save(*, rule: ReviewDeadlineRule, actor: Actor) -> ReviewDeadlineRule:
    """Create or change how long a case may stay in a state at a priority (leads). Deadlines
    already set keep their value; the rule applies from the next transition on."""
    _require_lead(actor, "edit review deadline rules")
    _checked(rule)
    with transaction.atomic():
        rule.save()
    logger.info("review deadline rule %s saved by %s", rule, actor.label)
    return rule
