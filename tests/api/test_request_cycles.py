"""An API request's parsed body is freed by reference counting once its response is rendered,
not left in a reference cycle for the collector (config/collector.py ReleaseRequestCycles)."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from django.conf import settings

from accounts.models import Account

from .conftest import ApiCaller, signal


def signals_left_in_cycles(api: ApiCaller, batch: list[dict[str, Any]], status: int) -> list[Any]:
    """Post ``batch`` with the collector off, drop the response, and return the parsed signals
    that only the collector could free."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        response = api.post("/signals", {"signals": batch})
        assert response.status_code == status
        del response
        gc.collect()
        return [o for o in gc.garbage if isinstance(o, dict) and "dedupe_key" in o]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.mark.parametrize(
    ("severity", "status"), [("medium", 202), ("dire", 422)], ids=["stored", "refused"]
)
def test_a_batch_posted_leaves_none_of_its_signals_to_the_collector(
    api: ApiCaller, account: Account, severity: str, status: int
) -> None:
    batch = [signal(n, severity=severity) for n in range(50)]
    assert signals_left_in_cycles(api, batch, status) == []


def test_the_release_is_the_outermost_middleware() -> None:
    # Outermost: every other middleware has finished with the response when it is unlinked.
    assert settings.MIDDLEWARE[0] == "config.collector.ReleaseRequestCycles"
