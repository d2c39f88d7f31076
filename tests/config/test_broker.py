"""The embedded broker: a consumer sees a whole message or none, never one being written."""

from __future__ import annotations

import os
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection

from config import broker


def test_filesystem_names_the_atomic_transport() -> None:
    assert Connection("filesystem://").transport_cls == "filesystem"
    assert isinstance(Connection("filesystem://").transport, broker.Transport)


def test_a_message_being_written_is_not_seen(tmp_path: Path, monkeypatch: Any) -> None:
    options = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    with Connection("filesystem://", transport_options=options) as conn:
        channel = conn.default_channel
        seen_while_writing: list[str] = []
        replace = os.replace

        def watching_replace(src: str, dst: str) -> None:
            # The message is complete on disk but not yet under its name: a consumer now
            # finds nothing (kombu's own transport showed it an empty file at this point).
            seen_while_writing.extend(p.name for p in tmp_path.iterdir())
            with pytest.raises(Empty):
                channel._get("q")
            replace(src, dst)

        monkeypatch.setattr(broker.os, "replace", watching_replace)
        channel._put("q", {"body": "hello"})
        assert seen_while_writing and all(not n.endswith(".msg") for n in seen_while_writing)
        assert channel._get("q") == {"body": "hello"}
        assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())
