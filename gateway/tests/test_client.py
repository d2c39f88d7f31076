"""The embeddable client against a fake service over loopback."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.client import DenyListClient, FeedGap, SyncError
from gateway.tests.fake_service import KEY, FakeService, model_block, rate_limit, suspension


def make(service: FakeService, tmp_path: Path, **kwargs: Any) -> DenyListClient:
    return DenyListClient(
        service.url, KEY, state_file=tmp_path / "state.json", persist_interval=0, **kwargs
    )


def test_snapshot_then_feed(service: FakeService, tmp_path: Path) -> None:
    service.change("acme", "suspended", [suspension("sor_1")])
    service.change("initech", "restricted", [model_block("sor_2", "gpt-x")])
    client = make(service, tmp_path)
    client.sync_once()
    assert client.ready and client.cursor == 2
    v = client.check("acme")
    assert (v.allowed, v.status, v.reason, v.decision) == (False, "suspended", "suspended", "sor_1")
    assert client.check("initech", "GPT-X ").reason == "model_blocked"
    assert client.check("initech", "other").allowed
    assert client.check("nobody").status == "unknown"

    service.change("acme", "active", [])
    service.change("hooli", "restricted", [rate_limit("sor_3", 10, 20000)])
    assert client.sync_once() == 2
    assert client.cursor == 4
    assert client.restrictions("acme") is None
    assert client.check("acme").status == "unknown"
    assert client.check("hooli").rate_limit == "rpm=10, tpm=20000"


def test_idle_poll_sends_the_etag_and_gets_304(service: FakeService, tmp_path: Path) -> None:
    service.change("acme", "suspended", [suspension("sor_1")])
    client = make(service, tmp_path)
    client.sync_once()  # snapshot, then an empty page with its ETag
    client.sync_once()
    _, last_headers = service.feed_requests()[-1]
    assert last_headers.get("If-None-Match") == '"feed-1-1000-1"'
    assert client.cursor == 1
    # The 304 changed nothing, and a later change is still read.
    service.change("acme", "active", [])
    assert client.sync_once() == 1
    assert client.restrictions("acme") is None


def test_a_cut_snapshot_is_refused_and_the_old_list_kept(
    service: FakeService, tmp_path: Path
) -> None:
    service.change("acme", "suspended", [suspension("sor_1")])
    client = make(service, tmp_path)
    client.sync_once()
    service.change("initech", "suspended", [suspension("sor_2")])
    service.horizon = 5  # the cursor is past the retention: the client must resync
    service.cut_snapshot = True
    with pytest.raises(SyncError, match="end line"):
        client.sync_once()
    assert client.cursor == 1
    assert client.restrictions("initech") is None
    assert not client.check("acme").allowed
    # Whole again: the snapshot replaces the list.
    service.cut_snapshot = False
    service.horizon = 0
    service.snapshot_cursor = None
    client.load_snapshot()
    assert client.cursor == 2 and not client.check("initech").allowed


def test_a_cut_snapshot_at_start_leaves_no_list(service: FakeService, tmp_path: Path) -> None:
    service.change("acme", "suspended", [suspension("sor_1")])
    service.cut_snapshot = True
    client = make(service, tmp_path)
    with pytest.raises(SyncError):
        client.sync_once()
    assert not client.ready
    assert not (tmp_path / "state.json").exists()


def test_410_resyncs_from_a_snapshot(service: FakeService, tmp_path: Path) -> None:
    service.change("acme", "suspended", [suspension("sor_1")])
    client = make(service, tmp_path)
    client.sync_once()
    for i in range(5):
        service.change(f"acc-{i}", "suspended", [suspension(f"sor_{i + 10}")])
    service.change("acme", "active", [])
    service.horizon = 4  # changes up to 4 pruned, cursor 1 is too old
    snapshots_before = sum(1 for p, _ in service.requests if "snapshot" in p)
    client.sync_once()
    assert sum(1 for p, _ in service.requests if "snapshot" in p) == snapshots_before + 1
    assert client.cursor == 7
    assert client.restrictions("acme") is None
    assert all(not client.check(f"acc-{i}").allowed for i in range(5))


def test_a_gap_is_never_applied_past(service: FakeService, tmp_path: Path) -> None:
    service.change("acme", "suspended", [suspension("sor_1")])
    client = make(service, tmp_path)
    client.sync_once()
    # A page that skips change 2: change 3 must not be applied.
    service.feed_override = [
        {"seq": 3, "account": "initech", "status": "suspended", "restrictions": [suspension("s3")]}
    ]
    with pytest.raises(FeedGap):
        client.sync_once()
    assert client.cursor == 1 and client.restrictions("initech") is None
    # Out of order within a page: applied up to the gap, then read again from the cursor.
    service.feed_override = [
        {"seq": 2, "account": "hooli", "status": "suspended", "restrictions": [suspension("s2")]},
        {"seq": 4, "account": "initech", "status": "suspended", "restrictions": [suspension("s4")]},
    ]
    with pytest.raises(FeedGap):
        client.sync_once()
    assert client.cursor == 2 and client.restrictions("initech") is None
    assert not client.check("hooli").allowed
    service.feed_override = None
    service.change("hooli", "suspended", [suspension("s2")])
    service.change("x", "active", [])
    service.change("initech", "suspended", [suspension("s4")])
    client.sync_once()
    assert client.cursor == 4 and not client.check("initech").allowed


def test_pages_are_followed_to_the_head(service: FakeService, tmp_path: Path) -> None:
    for i in range(25):
        service.change(f"a{i}", "suspended", [suspension("sor_same")])
    client = make(service, tmp_path, page_limit=10)
    client._ready = True  # follow the feed from 0 rather than a snapshot
    assert client.follow() == 25
    assert client.cursor == 25
    # What the restrictions restrict is stored once however many accounts hold it.
    held = [client.restrictions(f"a{i}") for i in range(25)]
    assert all(r is not None and len(r) == 1 for r in held)
    assert len({id(r[0].shape) for r in held if r is not None}) == 1


def test_state_file_round_trip_and_atomic_write(service: FakeService, tmp_path: Path) -> None:
    service.change("acme", "suspended", [suspension("sor_1")])
    service.change("initech", "restricted", [model_block("sor_2", "gpt-x")])
    client = make(service, tmp_path)
    client.sync_once()
    state = tmp_path / "state.json"
    lines = [json.loads(line) for line in state.read_text().splitlines()]
    assert lines[0]["cursor"] == 2 and lines[0]["accounts"] == 2
    assert {line[0] for line in lines[1:-1]} == {"acme", "initech"}
    assert lines[-1] == {"end": True, "accounts": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left

    service.close()  # the service is gone: a new client answers from the file
    again = DenyListClient("http://127.0.0.1:9", KEY, state_file=state)
    assert again.load_state()
    assert again.cursor == 2 and again.synced_at == client.synced_at
    assert not again.check("acme").allowed
    assert again.check("initech", "gpt-x").reason == "model_blocked"
    with pytest.raises(SyncError):
        again.sync_once()
    assert not again.check("acme").allowed


@pytest.mark.parametrize(
    "text",
    [
        '{"version": 2, "cursor": 3, "synced_at": 1.0, "accounts": 1}\n["acme", []]\n',
        '{"version": 2, "cursor": 3, "synced_at": 1.0, "accounts": 2}\n["acme", []]\n'
        '{"end": true, "accounts": 1}\n',
        '{"version": 2, "cursor": 3, "synced_at": 1.0, "accounts": 1}\n["acme", [',
        '{"version": 1, "cursor": 3, "sets": [], "accounts": {}}',
    ],
    ids=["no end line", "counts differ", "cut in a line", "another version"],
)
def test_a_broken_state_file_is_not_loaded(tmp_path: Path, text: str) -> None:
    state = tmp_path / "state.json"
    state.write_text(text)
    client = DenyListClient("http://127.0.0.1:9", KEY, state_file=state)
    assert not client.load_state()
    assert not client.ready


def test_ends_at_applies_at_read_time(service: FakeService, tmp_path: Path) -> None:
    ends = time.time() + 2
    soon = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ends)) + ".000000Z"
    service.change("acme", "suspended", [suspension("sor_1", ends_at=soon)])
    client = make(service, tmp_path)
    client.sync_once()
    assert not client.check("acme").allowed
    time.sleep(max(0.0, ends - time.time()) + 0.1)
    assert client.check("acme").allowed  # no sync in between


def test_a_wrong_key_is_a_sync_error(service: FakeService, tmp_path: Path) -> None:
    client = DenyListClient(service.url, "tsk_wrong.key", state_file=tmp_path / "s.json")
    with pytest.raises(SyncError, match="401"):
        client.sync_once()
    assert not client.ready


def test_keep_alive_one_connection(service: FakeService, tmp_path: Path) -> None:
    client = make(service, tmp_path)
    client.sync_once()
    first = client._http._conn
    for _ in range(3):
        client.sync_once()
    assert client._http._conn is first and first is not None


def test_background_thread_and_concurrent_reads(service: FakeService, tmp_path: Path) -> None:
    client = make(service, tmp_path, poll_interval=0.02)
    client.start()
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                client.check("a5")
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        for i in range(50):
            service.change(
                f"a{i % 10}",
                "suspended" if i % 2 else "active",
                [suspension(f"s{i}")] if i % 2 else [],
            )
        deadline = time.time() + 5
        while client.cursor < 50 and time.time() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        for t in readers:
            t.join()
        client.stop()
    assert not errors
    assert client.cursor == 50
    # The last change of a9 (i=49) suspends it; of a0 (i=40) makes it active.
    assert not client.check("a9").allowed and client.restrictions("a0") is None
    header = (tmp_path / "state.json").read_text().splitlines()[0]
    assert json.loads(header)["cursor"] == 50


def test_a_restriction_that_starts_later_is_kept_and_applies_then(
    service: FakeService, tmp_path: Path
) -> None:
    starts = time.time() + 2
    later = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(starts)) + ".000000Z"
    service.change("acme", "suspended", [{**suspension("sor_1"), "starts_at": later}])
    client = make(service, tmp_path)
    client.sync_once()
    assert client.check("acme").allowed  # not yet in force
    again = DenyListClient("http://127.0.0.1:9", KEY, state_file=tmp_path / "state.json")
    assert again.load_state()  # the start is kept through the state file
    time.sleep(max(0.0, starts - time.time()) + 0.1)
    assert not client.check("acme").allowed and not again.check("acme").allowed
