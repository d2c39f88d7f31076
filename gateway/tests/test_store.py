"""The packed store answers as a plain dictionary of the service's restrictions would."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from gateway.client import DenyListClient
from gateway.mirror import Answerer
from gateway.store import PackedStore, StoreBuilder
from gateway.tests.fake_service import KEY, FakeService
from gateway.verdict import Verdict, verdict

PAST = "2001-01-01T00:00:00.000000Z"
FUTURE = "2999-01-01T00:00:00.000000Z"
MODELS = (None, "gpt-x", "GPT-X ", "frontier-large", "other")
FEATURES = (None, "vision", " Batch", "tools")


def restriction(kind: str, decision: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "models": [],
        "features": [],
        "requests_per_minute": None,
        "tokens_per_minute": None,
        "starts_at": "2026-01-01T00:00:00.000000Z",
        "ends_at": None,
        "decision": decision,
        "case": 7,
        **extra,
    }


def a_mix(rng: random.Random, n: int) -> tuple[str, list[dict[str, Any]]]:
    """An account's status and restrictions: one of each kind, ends past and future, starts
    ahead, several at once, odd decisions."""
    decision = rng.choice([f"sor_{n}", f"sor_{n % 7}", None, "", "sor_é\n\tx\x1e\x1f\x1b\x00"])
    ends = rng.choice([None, None, PAST, FUTURE])
    starts = rng.choice(["2026-01-01T00:00:00.000000Z", FUTURE, None])
    options = [
        ("suspended", [restriction("suspension", decision, ends_at=ends, starts_at=starts)]),
        ("terminated", [restriction("termination", decision, ends_at=ends)]),
        (
            "restricted",
            [
                restriction(
                    "model_block", decision, models=["gpt-x", "Frontier-Large"], ends_at=ends
                )
            ],
        ),
        (
            "restricted",
            [restriction("feature_block", decision, features=["vision", "batch"], ends_at=ends)],
        ),
        (
            "restricted",
            [restriction("rate_limit", decision, requests_per_minute=rng.choice([10, 60]))],
        ),
        (
            "restricted",
            [
                restriction("rate_limit", decision, requests_per_minute=60, tokens_per_minute=9),
                restriction("rate_limit", f"sor_{n}b", requests_per_minute=30, ends_at=ends),
                restriction("model_block", f"sor_{n}c", models=["other"], ends_at=FUTURE),
            ],
        ),
        (
            "suspended",
            [
                restriction("feature_block", decision, features=["tools"]),
                restriction("suspension", f"sor_{n}d", ends_at=ends),
                restriction("termination", f"sor_{n}e", ends_at=PAST),
            ],
        ),
        ("restricted", []),
    ]
    return rng.choice(options)


class ReferenceClient:
    """The list as a plain dictionary, answered by ``gateway.verdict`` directly."""

    def __init__(self, real: DenyListClient, accounts: dict[str, list[dict[str, Any]]]) -> None:
        self.real = real
        self.accounts = accounts
        self.ready = True
        self.last_error = None

    @property
    def cursor(self) -> int:
        return self.real.cursor

    @property
    def synced_at(self) -> float | None:
        return self.real.synced_at

    def check(self, account: str, model: str | None = None, feature: str | None = None) -> Verdict:
        return verdict(self.accounts.get(account), model=model, feature=feature)


def same_answers(
    client: DenyListClient, reference: dict[str, list[dict[str, Any]]], ids: list[str]
) -> set[str]:
    """Assert the client answers as the reference; what the answers were (reasons, statuses,
    rate limits), to show the mix covers them."""

    def clock() -> float:
        return client.synced_at or 0.0

    ours = Answerer(client, clock=clock)
    theirs = Answerer(ReferenceClient(client, reference), clock=clock)  # type: ignore[arg-type]
    assert client.status().accounts == len(reference)
    seen: set[str] = set()
    for account in ids:
        assert (client.restrictions(account) is None) == (account not in reference)
        for model in MODELS:
            for feature in FEATURES:
                expected = verdict(reference.get(account), model=model, feature=feature)
                assert client.check(account, model, feature) == expected, (account, model)
                seen.update((expected.status, expected.reason or "", expected.rate_limit or ""))
                headers = {"x-account-id": account}
                if model is not None:
                    headers["x-model"] = model
                if feature is not None:
                    headers["x-feature"] = feature
                assert ours.authz(headers, "/authz/x") == theirs.authz(headers, "/authz/x")
    return seen


def test_the_packed_store_answers_as_a_plain_dict(service: FakeService, tmp_path: Path) -> None:
    rng = random.Random(15)  # noqa: S311 -- a repeatable mix, not a secret
    reference: dict[str, list[dict[str, Any]]] = {}

    def change(account: str, status: str, restrictions: list[dict[str, Any]]) -> None:
        service.change(account, status, restrictions)
        if status == "active":
            reference.pop(account, None)
        else:
            reference[account] = restrictions

    for n in range(800):
        change(f"acct-{n:05d}", *a_mix(rng, n))
    for n in range(0, 800, 9):
        change(f"acct-{n:05d}", "active", [])  # back to active: out of the snapshot
    client = DenyListClient(
        service.url, KEY, state_file=tmp_path / "state.json", persist_interval=0
    )
    client.sync_once()  # the snapshot (built by StoreBuilder)
    ids = [f"acct-{n:05d}" for n in range(0, 3000, 3)] + ["nobody", "acct-0"]
    seen = same_answers(client, reference, ids)
    assert {"terminated", "suspended", "model_blocked", "feature_blocked"} <= seen
    assert {"active", "restricted", "unknown", "rpm=10", "rpm=30, tpm=9"} <= seen
    buckets = len(client._accounts._buckets)

    # The feed: updates, removals, and new accounts enough to grow the store twice over.
    for _ in range(2400):
        target = rng.randrange(3000)
        if rng.random() < 0.2:
            change(f"acct-{target:05d}", "active", [])
        else:
            change(f"acct-{target:05d}", *a_mix(rng, target))
    for n in range(800, 3000):
        change(f"acct-{n:05d}", *a_mix(rng, n))
    assert client.sync_once() == 2400 + 2200
    assert len(client._accounts._buckets) > buckets  # grew while following the feed
    same_answers(client, reference, ids)

    # Read back from the state file, by a client that never reached the service.
    again = DenyListClient("http://127.0.0.1:9", KEY, state_file=tmp_path / "state.json")
    assert again.load_state() and again.cursor == client.cursor
    same_answers(again, reference, ids)


def test_values_round_trip_whatever_they_hold() -> None:
    odd = [
        "",
        "\n",
        "\t",
        "\x1e\x1f",
        "\x1b",
        "\x1b0",
        "\x00",
        "é ☃ 𝄞",
        'a\\b"c',
        "\x1b\n5",
        "\ud800",
    ]

    def accounts(i: int, text: str) -> tuple[str, ...]:
        return (text or "x", f"acct{i}{text}", f"{text}\t{i}")

    store = PackedStore()
    built = StoreBuilder(len(odd))
    for i, text in enumerate(odd):
        restrictions = [
            restriction("suspension", text, ends_at=FUTURE + text, starts_at="3" + text),
            restriction("model_block", None, models=[text], features=[text]),
        ]
        for account in accounts(i, text):
            store.put(account, [])
            store.put(account, restrictions)
            built.add(account, [])
            built.add(account, restrictions)  # the later line wins
    every = {a for i, t in enumerate(odd) for a in accounts(i, t)}
    for s in (store, built.build()):
        for i, text in enumerate(odd):
            for account in accounts(i, text):
                got = s.get(account)
                assert got is not None, account
                first, second = (r.as_json() for r in got)
                assert (first["decision"], first["ends_at"], first["starts_at"]) == (
                    text,
                    FUTURE + text,
                    "3" + text,
                )
                assert second["decision"] is None and second["models"] == [text]
        assert len(s) == len(every)
        assert {a for a, _ in s.items()} == every
        # A query that looks like an escaped id is not that id.
        assert s.get("acct1\x1b1") is None and s.get("nobody") is None
        assert s.get("acct1\n") is not None


def test_put_and_remove_grow_and_shrink() -> None:
    store = PackedStore()
    for n in range(5000):
        store.put(f"a{n}", [restriction("suspension", f"d{n}")])
    assert len(store) == 5000 and len(store._buckets) > 8
    for n in range(0, 5000, 2):
        assert store.remove(f"a{n}")
    assert not store.remove("a0") and len(store) == 2500
    for n in range(5000):
        got = store.get(f"a{n}")
        assert (got is None) == (n % 2 == 0)
        if got is not None:
            assert got[0]["decision"] == f"d{n}" and got[0]["kind"] == "suspension"
    assert store.get("a") is None and store.get("") is None
