"""/healthz and /readyz answer without auth; readiness names what is down."""

from __future__ import annotations

import time
from typing import Any

from django.test import Client


def test_healthz_is_up(db: None) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_and_broker(db: None) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_fails_fast_when_the_broker_is_down(db: None, settings: Any) -> None:
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    started = time.monotonic()
    response = Client().get("/readyz")
    assert time.monotonic() - started < 10
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unavailable"}


def test_readyz_reports_a_database_failure(db: None, monkeypatch: Any) -> None:
    import config.health as health

    def down() -> None:
        raise OSError("database unreachable")

    monkeypatch.setitem(health.CHECKS, "database", down)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "unavailable"
