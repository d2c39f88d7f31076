"""The web worker's cycle collector (config/collector.py): the loaded application frozen, the
young generation's threshold raised, and a bad setting refused at start."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from config.collector import DEFAULT_THRESHOLD, collector_tune


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()


def test_the_loaded_application_is_frozen_and_the_threshold_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WEB_GC_THRESHOLD", raising=False)
    gc.unfreeze()
    older = gc.get_threshold()[1:]

    collector_tune()

    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (DEFAULT_THRESHOLD, *older)


def test_the_threshold_is_set_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_GC_THRESHOLD", "700")

    collector_tune()

    assert gc.get_threshold()[0] == 700


@pytest.mark.parametrize("value", ["many", "0", "-5", "1.5"])
def test_a_bad_threshold_stops_the_worker_with_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("WEB_GC_THRESHOLD", value)
    before = gc.get_threshold()

    with pytest.raises(SystemExit, match="WEB_GC_THRESHOLD must be"):
        collector_tune()
    assert gc.get_threshold() == before
