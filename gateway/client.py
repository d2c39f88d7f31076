"""The embeddable part of the mirror: a local copy of the deny-list that follows the service.

A :class:`DenyListClient` loads the snapshot (``GET /api/v1/enforcement/snapshot``, streamed
NDJSON; a body without its end line is refused and the list held so far kept), then follows the
change feed from the snapshot's cursor (``GET /api/v1/enforcement/changes``) with
``If-None-Match``, so that an idle poll is a 304 that costs the service almost nothing. Each
change replaces the account's restrictions with those it carries (an account back to ``active``
leaves the list); a change whose ``seq`` is not the cursor's next is never applied (the page is
read again from the cursor), so the list never misses or reorders a change. A ``410`` (the
cursor is older than the feed's retention) starts again from a snapshot.

The list and its cursor are written to a state file atomically (a temporary file, fsync,
``os.replace``, fsync of the folder) and read back at start, so that a restarted mirror answers
while the service is down. :meth:`DenyListClient.check` answers from memory, from any thread,
with :func:`gateway.verdict.verdict` (``ends_at`` applied at read time).

Only the standard library: ``http.client`` with one kept-alive connection. The list is a
:class:`gateway.store.PackedStore`: a line of text an account in hashed buckets, what a
restriction restricts stored once for all the restrictions alike, so that a million restricted
accounts stay near a hundred megabytes.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .store import PackedStore, Restriction, Restrictions, StoreBuilder
from .verdict import Verdict, verdict

logger = logging.getLogger("gateway.client")

SNAPSHOT_PATH = "/api/v1/enforcement/snapshot"
CHANGES_PATH = "/api/v1/enforcement/changes"
STATE_VERSION = 2
USER_AGENT = "tscase-gateway-mirror/1"

__all__ = [
    "CursorExpired",
    "DenyListClient",
    "FeedGap",
    "Restriction",
    "Restrictions",
    "Status",
    "SyncError",
]


class SyncError(Exception):
    """The service could not be read (unreachable, an unexpected answer, a cut body)."""


class FeedGap(SyncError):
    """A page of the feed does not follow the cursor (a change missing or out of order)."""


@dataclass(frozen=True, slots=True)
class Status:
    """What the client holds: whether it holds a list at all, the feed cursor it reflects, the
    number of accounts, and when it last synced (Unix time; ``None``: never)."""

    ready: bool
    cursor: int
    accounts: int
    synced_at: float | None

    def stale_seconds(self, now: float | None = None) -> float | None:
        """Seconds since the last successful sync (``None`` before the first)."""
        if self.synced_at is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.synced_at)


class _Connection:
    """One kept-alive HTTP/1.1 connection to the service, opened again after any failure."""

    def __init__(self, url: str, key: str, timeout: float) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the service URL must be http(s)://host[:port]: {url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port
        self.base = parts.path.rstrip("/")
        self.key = key
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _open(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def get(
        self, path: str, headers: Mapping[str, str] | None = None
    ) -> Iterator[http.client.HTTPResponse]:
        """``GET path``; the response must be read (or the connection is closed) before the
        block ends. Any error closes the connection and raises :class:`SyncError`."""
        conn = self._open()
        sent = {
            "Authorization": f"Bearer {self.key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        }
        try:
            conn.request("GET", self.base + path, headers=sent)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise SyncError(f"GET {path}: {exc or type(exc).__name__}") from exc
        try:
            yield response
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.close()
            raise SyncError(f"GET {path}: {exc or type(exc).__name__}") from exc
        except BaseException:
            self.close()
            raise
        if not response.isclosed():
            # Not read to the end: the connection cannot carry the next request.
            self.close()
        elif response.will_close:
            self.close()


def _problem_code(response: http.client.HTTPResponse) -> str:
    try:
        body = json.loads(response.read(65536) or b"{}")
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


class DenyListClient:
    """A local copy of the deny-list, following the service's feed (see the module's text).

    ``sync_once()`` does one round (a snapshot when it holds no list or the cursor expired,
    else the feed read until it is at its head); ``start()`` runs rounds every
    ``poll_interval`` seconds on a daemon thread until ``stop()``. ``check()`` may be called
    from any thread at any time.
    """

    def __init__(
        self,
        service_url: str,
        key: str,
        *,
        state_file: str | os.PathLike[str] | None = None,
        poll_interval: float = 1.0,
        page_limit: int = 1000,
        timeout: float = 10.0,
        persist_interval: float = 1.0,
    ) -> None:
        if not key:
            raise ValueError("the service key is required")
        self._http = _Connection(service_url, key, timeout)
        self.state_file = Path(state_file) if state_file is not None else None
        self.poll_interval = poll_interval
        self.page_limit = page_limit
        self.persist_interval = persist_interval
        self._lock = threading.Lock()  # taken by writers: the list and its cursor change together
        self._accounts = PackedStore()
        self._cursor = 0
        self._ready = False
        self._synced_at: float | None = None
        self._etag: tuple[int, str] | None = None  # the empty page at this cursor
        self._dirty = False
        self._persisted_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    # --- reads -------------------------------------------------------------------------------

    def check(self, account: str, model: str | None = None, feature: str | None = None) -> Verdict:
        """The verdict on a request by ``account`` for ``model`` and ``feature``, from the list
        held now (an account it does not hold is ``unknown``, allowed)."""
        return verdict(self._accounts.get(account), model=model, feature=feature)

    def restrictions(self, account: str) -> Restrictions | None:
        return self._accounts.get(account)

    def status(self) -> Status:
        with self._lock:
            return Status(
                ready=self._ready,
                cursor=self._cursor,
                accounts=len(self._accounts),
                synced_at=self._synced_at,
            )

    @property
    def cursor(self) -> int:
        return self._cursor

    @property
    def synced_at(self) -> float | None:
        """When the list last synced (Unix time; ``None``: never)."""
        return self._synced_at

    @property
    def ready(self) -> bool:
        return self._ready

    # --- the state file ----------------------------------------------------------------------

    def load_state(self) -> bool:
        """Read the state file, if there is one and it is whole; ``True`` if a list was read.

        The file is NDJSON, read line by line: a header (``version``, ``cursor``,
        ``synced_at``, ``accounts``), one ``[account, restrictions]`` line per account, and an
        end line (``{"end": true, "accounts": N}``) without which the file is not used."""
        if self.state_file is None or not self.state_file.exists():
            return False
        try:
            with self.state_file.open("rb") as f:
                header = json.loads(f.readline() or b"null")
                if not isinstance(header, dict) or header.get("version") != STATE_VERSION:
                    raise ValueError("not a state file of this version")
                expected = header.get("accounts")
                building = StoreBuilder(expected if isinstance(expected, int) else 0)
                end: Any = None
                for line in f:  # streamed: a line at a time into the packed buckets
                    row = json.loads(line)
                    if isinstance(row, dict):
                        end = row
                        break
                    account, restrictions = row
                    building.add(str(account), restrictions)
                if not (isinstance(end, dict) and end.get("end") is True):
                    raise ValueError("no end line (the file was cut short)")
                if end.get("accounts") != len(building) or expected != len(building):
                    raise ValueError("the count of accounts does not hold")
                accounts = building.build()
            cursor = int(header["cursor"])
            synced = header.get("synced_at")
            synced_at = float(synced) if synced is not None else None
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            logger.warning("state file %s not read: %s", self.state_file, exc)
            return False
        with self._lock:
            self._accounts = accounts
            self._cursor = cursor
            self._synced_at = synced_at
            self._ready = True
            self._etag = None
        logger.info(
            "state file %s: %d accounts at cursor %d", self.state_file, len(accounts), cursor
        )
        return True

    def persist(self) -> None:
        """Write the list and its cursor to the state file, atomically: streamed to a
        temporary file in the same folder, fsync, ``os.replace``, fsync of the folder."""
        if self.state_file is None:
            return
        folder = self.state_file.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.state_file.name + ".", suffix=".tmp", dir=folder)
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        try:
            with os.fdopen(fd, "wb") as f, self._lock:
                # Under the lock (writers wait; readers do not): the list and cursor agree.
                header = {
                    "version": STATE_VERSION,
                    "cursor": self._cursor,
                    "synced_at": self._synced_at,
                    "accounts": len(self._accounts),
                }
                f.write(dumps(header).encode() + b"\n")
                lines = []
                for account, restrictions in self._accounts.items():  # a bucket at a time
                    lines.append(dumps([account, [r.as_json() for r in restrictions]]))
                    if len(lines) >= 4096:
                        f.write(("\n".join(lines) + "\n").encode())
                        lines = []
                if lines:
                    f.write(("\n".join(lines) + "\n").encode())
                f.write(dumps({"end": True, "accounts": len(self._accounts)}).encode() + b"\n")
                self._dirty = False
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.state_file)
        except BaseException:
            self._dirty = True
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._persisted_at = time.monotonic()

    def _persist_if_due(self, *, force: bool = False) -> None:
        if self._dirty and (
            force or time.monotonic() - self._persisted_at >= self.persist_interval
        ):
            try:
                self.persist()
            except OSError as exc:
                self._dirty = True
                logger.error("state file %s not written: %s", self.state_file, exc)

    # --- sync --------------------------------------------------------------------------------

    def load_snapshot(self) -> None:
        """Replace the list with the service's snapshot; the list held is kept unless the
        whole body, end line included, was read."""
        with self._http.get(SNAPSHOT_PATH, {"Accept": "*/*"}) as response:
            if response.status != 200:
                code = _problem_code(response)
                raise SyncError(f"snapshot: HTTP {response.status} {code}".rstrip())
            header = json.loads(response.readline() or b"null")
            if not isinstance(header, dict) or "cursor" not in header:
                raise SyncError("snapshot: no header line")
            expected = header.get("accounts")
            # A fresh store (shapes no longer held are let go), filled as the body streams in.
            building = StoreBuilder(expected if isinstance(expected, int) else 0)
            end: dict[str, Any] | None = None
            while line := response.readline():
                if not line.endswith(b"\n"):
                    raise SyncError("snapshot: cut short in a line")
                row = json.loads(line)
                if row.get("end") is True:
                    end = row
                    break
                if row.get("status") == "active":
                    continue
                building.add(str(row["account"]), row.get("restrictions") or [])
            if end is None:
                raise SyncError("snapshot: no end line (the body was cut short)")
            if str(end.get("cursor")) != str(header["cursor"]):
                raise SyncError("snapshot: the end line's cursor is not the header's")
            if end.get("accounts") != header.get("accounts"):
                raise SyncError("snapshot: the end line's count is not the header's")
            response.read()
        cursor = int(header["cursor"])
        accounts = building.build()
        with self._lock:
            self._accounts = accounts
            self._cursor = cursor
            self._ready = True
            self._synced_at = time.time()
            self._etag = None
            self._dirty = True
        logger.info("snapshot: %d accounts at cursor %d", len(accounts), cursor)

    def _read_page(self) -> tuple[list[dict[str, Any]], bool] | None:
        """One page of the feed after the cursor: ``(changes, has_more)``, ``None`` for a 304,
        raises :class:`CursorExpired` for a 410."""
        after = self._cursor
        headers = {"Accept": "application/json"}
        if self._etag is not None and self._etag[0] == after:
            headers["If-None-Match"] = self._etag[1]
        path = f"{CHANGES_PATH}?after={after}&limit={self.page_limit}"
        with self._http.get(path, headers) as response:
            if response.status == 304:
                response.read()
                return None
            if response.status == 410:
                code = _problem_code(response)
                raise CursorExpired(f"feed: HTTP 410 {code}".rstrip())
            if response.status != 200:
                code = _problem_code(response)
                raise SyncError(f"feed: HTTP {response.status} {code}".rstrip())
            body = json.loads(response.read())
            etag = response.getheader("ETag")
        changes = body["results"]
        if not changes and etag:
            self._etag = (after, etag)
        return changes, bool(body.get("has_more"))

    def _apply(self, changes: list[dict[str, Any]]) -> int:
        """Apply the changes that follow the cursor, in order; raise :class:`FeedGap` at the
        first that does not (the rest of the page is read again)."""
        applied = 0
        with self._lock:
            for change in changes:
                seq = int(change["seq"])
                if seq <= self._cursor:
                    continue  # already applied (a page read again)
                if seq != self._cursor + 1:
                    self._dirty = self._dirty or applied > 0
                    raise FeedGap(f"feed: change {seq} after cursor {self._cursor}")
                account = change["account"]
                if change.get("status") == "active":
                    self._accounts.remove(account)
                else:
                    self._accounts.put(account, change.get("restrictions") or [])
                self._cursor = seq
                applied += 1
            if applied:
                self._dirty = True
        return applied

    def follow(self) -> int:
        """Read the feed from the cursor to its head; the number of changes applied."""
        applied = 0
        while True:
            page = self._read_page()
            if page is None:
                break
            changes, more = page
            applied += self._apply(changes)
            if not more:
                break
        with self._lock:
            self._synced_at = time.time()
            self._dirty = self._dirty or applied > 0
        return applied

    def sync_once(self) -> int:
        """One round: a snapshot if no list is held, else the feed (a snapshot again if the
        cursor expired). Returns the changes applied; raises :class:`SyncError`."""
        try:
            if not self._ready:
                self.load_snapshot()
                applied = self.follow()
            else:
                try:
                    applied = self.follow()
                except CursorExpired as exc:
                    logger.warning("%s: starting again from a snapshot", exc)
                    self.load_snapshot()
                    applied = self.follow()
            self.last_error = None
            return applied
        finally:
            self._persist_if_due()

    # --- the background thread ---------------------------------------------------------------

    def run(self) -> None:
        """Sync every ``poll_interval`` seconds until :meth:`stop` (errors are logged and
        retried, with a backoff up to 30 s while the service is unreachable)."""
        failures = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sync_once()
                failures = 0
            except FeedGap as exc:
                # Read again from the cursor at the next round, never past the missing change.
                self.last_error = str(exc)
                logger.warning("%s: reading again from the cursor", exc)
            except (SyncError, ValueError, KeyError, TypeError) as exc:
                failures += 1
                self.last_error = str(exc)
                logger.warning("sync failed (%d in a row): %s", failures, exc)
            except Exception as exc:  # the thread must outlive any one round; the list stays
                failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("sync failed (%d in a row)", failures)
            if failures == 0:
                # Rounds start every poll_interval, however long the last one took.
                wait = max(0.0, self.poll_interval - (time.monotonic() - started))
            else:
                wait = min(30.0, 0.5 * 2 ** min(failures, 6))
            self._stop.wait(wait)
        self._persist_if_due(force=True)
        self._http.close()

    def start(self) -> threading.Thread:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="tscase-mirror-sync", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


class CursorExpired(SyncError):
    """The feed answered 410: the cursor is older than its retention."""
