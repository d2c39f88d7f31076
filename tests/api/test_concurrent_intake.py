"""Batches posted at once with overlapping signals and accounts (PostgreSQL)."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count
from django.test import Client

from accounts.services import api_client_create
from cases.models import Case, Signal

from .conftest import API, signal

THREADS = 8


@pytest.mark.django_db(transaction=True)
def test_overlapping_batches_store_each_signal_once_and_open_one_case_per_account(
    require_postgres: None,
) -> None:
    _, key = api_client_create(name="pipeline", scopes=["signals:write"])
    shared = [signal(n, account=f"acct-{n % 5}", severity="critical") for n in range(50)]

    def post(seed: int) -> tuple[int, int]:
        try:
            batch = list(shared)
            random.Random(seed).shuffle(batch)
            response = Client(raise_request_exception=False).post(
                f"{API}/signals",
                {"signals": batch},
                content_type="application/json",
                headers={"Authorization": f"Bearer {key}"},
            )
            body: dict[str, Any] = response.json()
            return response.status_code, int(body.get("stored", 0))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(post, range(THREADS)))

    assert {status for status, _ in outcomes} == {202}, outcomes
    assert sum(stored for _, stored in outcomes) == 50
    assert Signal.objects.count() == 50
    assert Case.objects.count() == 5
    assert sorted(Case.objects.values_list("account__external_id", flat=True)) == [
        f"acct-{n}" for n in range(5)
    ]


@pytest.mark.django_db(transaction=True)
def test_two_clients_posting_the_same_keys_at_once_each_store_their_own(
    require_postgres: None,
) -> None:
    keys = [api_client_create(name=n, scopes=["signals:write"])[1] for n in ("first", "second")]
    shared = [signal(n, account=f"acct-{n % 5}") for n in range(50)]

    def post(seed: int) -> tuple[int, int]:
        try:
            batch = list(shared)
            random.Random(seed).shuffle(batch)
            response = Client(raise_request_exception=False).post(
                f"{API}/signals",
                {"signals": batch},
                content_type="application/json",
                headers={"Authorization": f"Bearer {keys[seed % 2]}"},
            )
            return response.status_code, int(response.json().get("stored", 0))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(post, range(THREADS)))

    assert {status for status, _ in outcomes} == {202}, outcomes
    assert sum(stored for _, stored in outcomes) == 100
    counts = Signal.objects.values_list("client__name").annotate(n=Count("id")).order_by()
    assert dict(counts) == {"first": 50, "second": 50}
