"""The deny-list in memory, packed: a few bytes of text an account, not a few Python objects.

An account's restrictions are one line of text, ``account TAB payload``, and the lines are
kept in *buckets*: a power-of-two list of ``str``, each the lines of the accounts whose id
hashes to it, ``"\\n"``-joined (with a ``"\\n"`` before each line and after the last). A read
is a hash, a list index and two ``str.find`` over one bucket (about 16 to 32 lines): O(1),
in C. The payload is the account's restrictions separated by ``RS`` (``\\x1e``), each
``shape US starts_at US ends_at US decision`` (``US`` is ``\\x1f``), where ``shape`` is the
index of what the restriction restricts (kind, models, features, limits) in a table shared by
all accounts alike, and a field ``\\x00`` is ``None``. Text with any of these separators (or
``ESC``, ``\\x1b``) is escaped, so every value round-trips. ``ends_at`` is kept as text and
applied at read time, by :func:`gateway.verdict.verdict` on the decoded restrictions.

A writer (one at a time: the client holds its lock) replaces a whole bucket (copy on write)
and, past 32 lines a bucket on average, the whole bucket list; readers take the list once and
need no lock. :class:`StoreBuilder` fills a new store from a stream (a snapshot, the state
file) into growing ``bytearray`` buckets, so that loading peaks little above what it holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .verdict import now_text

Shape = tuple[Any, ...]

_SHAPE_FIELDS = ("kind", "models", "features", "requests_per_minute", "tokens_per_minute")
_FIELDS = (*_SHAPE_FIELDS, "starts_at", "ends_at", "decision")
_SHAPE_INDEX = {name: i for i, name in enumerate(_SHAPE_FIELDS)}
_OWN = frozenset(("starts_at", "ends_at", "decision"))

RS = "\x1e"  # between the restrictions of an account
US = "\x1f"  # between the fields of a restriction
NONE = "\x00"  # a field that is None
ESC = "\x1b"
_ESCAPES = {"\x1b": "0", "\n": "1", "\t": "2", RS: "3", US: "4", NONE: "5"}
_UNESCAPES = {code: char for char, code in _ESCAPES.items()}
_NEEDS_ESCAPE = re.compile("[\x00\t\n\x1b\x1e\x1f]").search
_ESCAPED = re.compile("\x1b(.)", re.DOTALL)

UTF8 = "utf-8"
SURROGATES = "surrogatepass"  # JSON may carry a lone surrogate: kept as it came
MEAN_LINES = 16  # a bucket's lines on average when a store is built...
MAX_MEAN_LINES = 32  # ...and past which the bucket list doubles
MIN_BUCKETS = 8


def _escape(text: str) -> str:
    if _NEEDS_ESCAPE(text) is None:
        return text
    return "".join(ESC + _ESCAPES[c] if c in _ESCAPES else c for c in text)


def _unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: _UNESCAPES[m[1]], text) if ESC in text else text


def _field(value: Any) -> str:
    return NONE if value is None else _escape(str(value))


def _value(text: str) -> str | None:
    return None if text == NONE else _unescape(text)


def _key(account: str) -> str:
    """The account's id as its line starts (escaped only if it must be: never for an id that
    follows the external id rule)."""
    return account if account.isprintable() else _escape(account)


def _buckets_for(count: int) -> int:
    n = MIN_BUCKETS
    while n * MEAN_LINES < count:
        n *= 2
    return n


class Restriction(Mapping[str, Any]):
    """One restriction as the check needs it: what it restricts (its *shape*: kind, models,
    features and limits) is one object shared by every restriction alike, and only its start
    (kept only while it lies ahead), end and decision are its own. Reads as the mapping the
    service sends (without ``case``, which no answer needs). Made on each read from the packed
    text."""

    __slots__ = ("decision", "ends_at", "shape", "starts_at")

    def __init__(
        self, shape: Shape, starts_at: str | None, ends_at: str | None, decision: str | None
    ) -> None:
        self.shape = shape
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.decision = decision

    def __getitem__(self, name: str) -> Any:
        i = _SHAPE_INDEX.get(name)
        if i is not None:
            return self.shape[i]
        if name in _OWN:
            return getattr(self, name)
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        i = _SHAPE_INDEX.get(name)
        if i is not None:
            return self.shape[i]
        if name in _OWN:
            return getattr(self, name)
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELDS)

    def __len__(self) -> int:
        return len(_FIELDS)

    def __repr__(self) -> str:
        return f"Restriction({self.as_json()!r})"

    def as_json(self) -> dict[str, Any]:
        return {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in zip(
                _FIELDS, (*self.shape, self.starts_at, self.ends_at, self.decision), strict=True
            )
        }


Restrictions = tuple[Restriction, ...]


class _Shapes:
    """What restrictions restrict, each distinct one stored once, by index."""

    __slots__ = ("index", "table")

    def __init__(self) -> None:
        self.table: list[Shape] = []
        self.index: dict[Shape, int] = {}

    def id_of(self, r: Mapping[str, Any]) -> int:
        shape = (
            str(r.get("kind")),
            tuple(str(m) for m in r.get("models") or ()),
            tuple(str(f) for f in r.get("features") or ()),
            r.get("requests_per_minute"),
            r.get("tokens_per_minute"),
        )
        found = self.index.get(shape)
        if found is None:
            found = len(self.table)
            # Appended before its index is published: a reader never meets an index unknown.
            self.table.append(shape)
            self.index[shape] = found
        return found


class PackedStore:
    """Accounts and their restrictions, packed (see the module's text). Writes (``put``,
    ``remove``) must come from one thread at a time; reads from any thread, without a lock."""

    __slots__ = ("_buckets", "_count", "_shapes")

    def __init__(self, expected: int = 0) -> None:
        self._buckets: list[str] = [""] * _buckets_for(expected)
        self._count = 0
        self._shapes = _Shapes()

    def __len__(self) -> int:
        return self._count

    # --- reads -------------------------------------------------------------------------------

    def payload(self, account: str) -> str | None:
        """The packed restrictions of ``account`` (``None``: not held)."""
        key = _key(account)
        buckets = self._buckets  # once: a growing store swaps the whole list
        bucket = buckets[hash(key) & (len(buckets) - 1)]
        at = bucket.find(f"\n{key}\t")
        if at < 0:
            return None
        start = at + len(key) + 2
        return bucket[start : bucket.index("\n", start)]

    def get(self, account: str) -> Restrictions | None:
        """The restrictions of ``account`` (``None``: not held)."""
        payload = self.payload(account)
        return None if payload is None else self._decode(payload)

    def _decode(self, payload: str) -> Restrictions:
        if not payload:
            return ()
        table = self._shapes.table
        out = []
        for part in payload.split(RS):
            shape, starts_at, ends_at, decision = part.split(US)
            out.append(
                Restriction(table[int(shape)], _value(starts_at), _value(ends_at), _value(decision))
            )
        return tuple(out)

    def items(self) -> Iterator[tuple[str, Restrictions]]:
        """Every account and its restrictions, a bucket at a time (writers must wait)."""
        for bucket in self._buckets:
            for line in bucket.split("\n"):
                if line:
                    key, _, payload = line.partition("\t")
                    yield _unescape(key), self._decode(payload)

    def __contains__(self, account: object) -> bool:
        return isinstance(account, str) and self.payload(account) is not None

    # --- writes ------------------------------------------------------------------------------

    def encode(self, restrictions: Sequence[Mapping[str, Any]], now: str | None = None) -> str:
        """The payload of ``restrictions`` (a start already past at ``now`` is not kept: it
        never matters again)."""
        now = now or now_text()
        parts = []
        for r in restrictions:
            starts_at = r.get("starts_at")
            parts.append(
                US.join(
                    (
                        str(self._shapes.id_of(r)),
                        _field(starts_at if (starts_at or "") > now else None),
                        _field(r.get("ends_at")),
                        _field(r.get("decision")),
                    )
                )
            )
        return RS.join(parts)

    def put(
        self, account: str, restrictions: Sequence[Mapping[str, Any]], now: str | None = None
    ) -> None:
        """Hold ``account`` with ``restrictions`` (replacing what it had)."""
        key = _key(account)
        line = f"{key}\t{self.encode(restrictions, now)}\n"
        buckets = self._buckets
        i = hash(key) & (len(buckets) - 1)
        bucket, found = _without(buckets[i], key)
        buckets[i] = (bucket or "\n") + line
        if not found:
            self._count += 1
            if self._count > MAX_MEAN_LINES * len(buckets):
                self._grow()

    def remove(self, account: str) -> bool:
        """Let ``account`` go; whether it was held."""
        key = _key(account)
        buckets = self._buckets
        i = hash(key) & (len(buckets) - 1)
        bucket, found = _without(buckets[i], key)
        if found:
            buckets[i] = "" if bucket == "\n" else bucket
            self._count -= 1
        return found

    def _grow(self) -> None:
        old = self._buckets
        size = len(old) * 2
        parts: list[list[str]] = [[] for _ in range(size)]
        for bucket in old:
            for line in bucket.split("\n"):
                if line:
                    parts[hash(line[: line.index("\t")]) & (size - 1)].append(line)
        self._buckets = ["\n" + "\n".join(p) + "\n" if p else "" for p in parts]


def _without(bucket: str, key: str) -> tuple[str, bool]:
    """``bucket`` without the line of ``key``, and whether it had one."""
    at = bucket.find(f"\n{key}\t")
    if at < 0:
        return bucket, False
    return bucket[: at + 1] + bucket[bucket.index("\n", at + 1) + 1 :], True


class StoreBuilder:
    """A new :class:`PackedStore` filled from a stream of accounts (``expected``: how many
    are announced, to size its buckets once), into ``bytearray`` buckets that grow in place."""

    def __init__(self, expected: int = 0) -> None:
        self.store = PackedStore()
        self.now = now_text()
        self._parts = [bytearray(b"\n") for _ in range(_buckets_for(expected))]
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, account: str, restrictions: Sequence[Mapping[str, Any]]) -> None:
        key = _key(account)
        parts = self._parts
        part = parts[hash(key) & (len(parts) - 1)]
        head = f"\n{key}\t".encode(UTF8, SURROGATES)
        at = part.find(head)
        if at >= 0:  # the same account twice: the later line wins
            del part[at + 1 : part.index(b"\n", at + 1) + 1]
            self._count -= 1
        line = f"{key}\t{self.store.encode(restrictions, self.now)}\n"
        part += line.encode(UTF8, SURROGATES)
        self._count += 1
        if self._count > MAX_MEAN_LINES * len(parts):
            self._grow()

    def _grow(self) -> None:
        size = len(self._parts) * 2
        parts = [bytearray(b"\n") for _ in range(size)]
        for old in self._parts:
            for line in bytes(old).split(b"\n"):
                if line:
                    key = line[: line.index(b"\t")].decode(UTF8, SURROGATES)
                    parts[hash(key) & (size - 1)] += line + b"\n"
            old.clear()
        self._parts = parts

    def build(self) -> PackedStore:
        """The store (the builder is spent): each bucket decoded to ``str`` in turn."""
        parts, self._parts = self._parts, []
        buckets = []
        for i, part in enumerate(parts):
            buckets.append(part.decode(UTF8, SURROGATES) if len(part) > 1 else "")
            parts[i] = bytearray()  # let it go now, not at the end
        self.store._buckets = buckets
        self.store._count = self._count
        return self.store
