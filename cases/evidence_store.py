"""Where evidence content is kept: the ``evidence`` storage of ``STORAGES`` (the file system
under ``var/evidence`` by default, an S3-compatible bucket by settings; docs/operations.md).

Content is written once, under a name never used before, and never overwritten; only the
retention purge deletes it, after the item's record is gone (``cases.retention``). The database
row holds the name, the SHA-256 and the size, and reading checks them.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages

STORAGE_ALIAS = "evidence"
CHUNK = 64 * 1024


class EvidenceStoreError(Exception):
    """The storage did not keep what it was given (or lost it)."""


@dataclass(frozen=True)
class Stored:
    name: str
    size: int
    sha256: str


def evidence_storage() -> Storage:
    return storages[STORAGE_ALIAS]


def digest(stream: IO[bytes]) -> tuple[str, int]:
    """SHA-256 (hex) and size of what ``stream`` holds from where it stands."""
    sha = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


def content_store(*, case_id: int, content: File[bytes] | bytes) -> Stored:
    """Write ``content`` under a fresh name, then read it back: what was kept is what was given.

    The storage never overwrites (``FileSystemStorage`` and ``S3Storage`` with
    ``file_overwrite=False`` pick another name when one is taken)."""
    storage = evidence_storage()
    if isinstance(content, bytes):
        content = ContentFile(content)
    content.seek(0)
    sha256, size = digest(content)
    content.seek(0)
    name = storage.save(f"{case_id}/{uuid.uuid4().hex}", content)
    kept = content_digest(name)
    if kept != (sha256, size):
        raise EvidenceStoreError(f"the storage kept {kept} for {name}, not {(sha256, size)}")
    return Stored(name=name, size=size, sha256=sha256)


def content_digest(name: str) -> tuple[str, int]:
    with evidence_storage().open(name, "rb") as handle:
        return digest(handle)


def content_chunks(name: str) -> Iterator[bytes]:
    """The stored content, chunk by chunk (the caller checks the hash it announced)."""
    with evidence_storage().open(name, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def content_read(name: str) -> bytes:
    return b"".join(content_chunks(name))


def content_delete(name: str) -> None:
    """Delete stored content whose item the retention purge has deleted (a name that is gone
    already is no error: a purge that stopped half-way is run again)."""
    evidence_storage().delete(name)
