"""The case bundle: a zip with the case record, its evidence files, their hashes and custody
logs, that ``verify_bundle`` checks with nothing but the bundle itself.

Layout:

- ``case.json``: the case export (``cases.export``), with ``evidence_items``: each item's record
  and its custody log (the export that made the bundle included), and ``custody_hashing``.
- ``evidence/<id>-<name>``: each item's content as stored.
- ``manifest.json``: ``format`` and, for every other file of the bundle, its SHA-256 and size.

``verify_bundle`` checks that the manifest lists exactly the bundle's other files and that each
has its hash and size; that each evidence file is the content its item's record hashes; that
each item's custody chain holds (the first event covers the item's record, ``cases.custody``);
and that the case's timeline chain holds and leaves the case in its state.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from typing import IO, Any

from django.utils.dateparse import parse_datetime

from .audit_verify import chain_check, state_check
from .custody import EVENT_FIELDS, ITEM_FIELDS, canonical_json, custody_chain_problems

FORMAT = "tscase.case-bundle/1"
MANIFEST = "manifest.json"
CASE = "case.json"


def evidence_path(item_id: int, name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:120] or "content"
    return f"evidence/{item_id}-{safe}"


def manifest_entry(content: bytes) -> dict[str, Any]:
    return {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}


def manifest_bytes(files: dict[str, bytes]) -> bytes:
    return canonical_json(
        {"format": FORMAT, "files": {path: manifest_entry(c) for path, c in files.items()}}
    )


@dataclass
class BundleChecked:
    files: int = 0
    items: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)


def _times(row: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """A row read from JSON with its times as the hash saw them (datetimes)."""
    out = dict(row)
    for name in names:
        if isinstance(out.get(name), str):
            out[name] = parse_datetime(out[name])
    return out


def verify_bundle(source: str | IO[bytes]) -> BundleChecked:
    """Every check of the module doc; each problem names the file (and row) it is about."""
    checked = BundleChecked()
    problems = checked.problems
    try:
        archive = zipfile.ZipFile(source)
    except (OSError, zipfile.BadZipFile) as exc:
        return BundleChecked(problems=[f"not a readable zip bundle: {exc}"])
    with archive:
        contents = {info.filename: archive.read(info) for info in archive.infolist()}
    try:
        manifest = json.loads(contents.pop(MANIFEST))
        listed: dict[str, dict[str, Any]] = manifest["files"]
        if manifest.get("format") != FORMAT:
            problems.append(f"{MANIFEST}: format {manifest.get('format')!r}, not {FORMAT!r}")
    except (KeyError, ValueError, TypeError):
        return BundleChecked(problems=[f"{MANIFEST}: missing or unreadable"])
    checked.files = len(contents)
    for path in sorted(set(listed) - set(contents)):
        problems.append(f"{path}: listed in {MANIFEST} but not in the bundle")
    for path in sorted(set(contents) - set(listed)):
        problems.append(f"{path}: in the bundle but not listed in {MANIFEST}")
    for path in sorted(set(listed) & set(contents)):
        if manifest_entry(contents[path]) != listed[path]:
            problems.append(
                f"{path}: SHA-256 or size differs from {MANIFEST} (changed after export)"
            )
    try:
        document = json.loads(contents[CASE])
        case_id, state = document["case"]["id"], document["case"]["state"]
        timeline = [{**_times(e, ("at",)), "case_id": case_id} for e in document["timeline"]]
        items = document["evidence_items"]
    except (KeyError, ValueError, TypeError):
        problems.append(f"{CASE}: missing or unreadable")
        return checked
    checked.events = len(timeline)
    problems.extend(f"{CASE}: {p}" for p in chain_check(timeline))
    problems.extend(f"{CASE}: {p}" for p in state_check(case_id, state, timeline))
    for item in items:
        checked.items += 1
        record = _times({k: item.get(k) for k in ITEM_FIELDS}, ("acquired_at",))
        path = item.get("path")
        content = contents.get(path) if isinstance(path, str) else None
        if content is None:
            problems.append(f"{CASE}: evidence {record['id']}: its file {path!r} is missing")
        elif manifest_entry(content) != {"sha256": record["sha256"], "size": record["size"]}:
            problems.append(
                f"{path}: not the content evidence {record['id']} was acquired with "
                "(its SHA-256 or size differs)"
            )
        custody = [_times(e, ("at",)) for e in item.get("custody", [])]
        for event, problem in custody_chain_problems(record, custody):
            where = f" custody seq {event.get('seq')}" if event else ""
            problems.append(f"{CASE}: evidence {record['id']}{where}: {problem}")
    return checked


CUSTODY_HASHING = {
    "algorithm": "sha256(prev_hash + '\\n' + canonical JSON of the event's fields, listed "
    "below, with under 'item' the item's fields for the first event); canonical JSON: keys "
    "sorted, separators ',' ':', UTF-8, times ISO 8601 with microseconds",
    "event_fields": list(EVENT_FIELDS),
    "item_fields": list(ITEM_FIELDS),
}
