"""Check the audit trail and name every table, case, row and event that does not hold together.

Three kinds of check, all read-only:

- **Chains**: each case's events are numbered from 1 without a gap and each one's hash is
  recomputed over its content and its predecessor's hash (``cases.audit``); an event hashed with
  an older version after a newer one is reported, since that is how a forger would take who acted
  out of the hash.
- **Rows against their timeline**: a case's state is the one its last transition moved it to
  (deleting the last event leaves a shorter chain that still verifies, but not this); a case
  without any event has no timeline; each note and evidence reference is the row the event that
  recorded it describes, and every such row was recorded by an event.
- **Enforcement**: each account's status is what its restrictions not yet ended make it (both
  read as of now: a restriction past its ``ends_at`` counts for neither), is the status of its
  last enforcement change (``active`` with none), and its changes follow each other; each change
  names an event of its own case; the change feed is numbered without a gap up to its counter.

On PostgreSQL the whole run reads one snapshot (REPEATABLE READ), so that changes committed while
it runs are never reported as mismatches.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.choices import EnforcementStatus
from accounts.models import Account
from config.times import iso

from .audit import EVENT_HASH_FIELDS, HASH_VERSION, UnknownHashVersion, event_hash, hash_version_of
from .choices import BLOCKING_KINDS, EventAction, RestrictionKind
from .enforcement import as_of
from .evidence_verify import CUSTODY_ROW_FIELDS, ITEM_ROW_FIELDS, evidence_check
from .models import (
    Case,
    CaseEvent,
    CaseNote,
    CustodyEvent,
    EnforcementChange,
    EvidenceItem,
    EvidenceReference,
    FeedCounter,
    Restriction,
)

EVENTS = CaseEvent._meta.db_table
CASES = Case._meta.db_table
NOTES = CaseNote._meta.db_table
EVIDENCE = EvidenceReference._meta.db_table
CHANGES = EnforcementChange._meta.db_table
ACCOUNTS = Account._meta.db_table
REFERENCE_MAX = EvidenceReference._meta.get_field("reference").max_length or 500


@dataclass(frozen=True)
class Mismatch:
    """One thing that does not hold: which table, which row (and case), what is wrong."""

    table: str
    subject: str
    problem: str
    case_id: int | None = None
    account: str | None = None

    def __str__(self) -> str:
        return f"{self.table} {self.subject}: {self.problem}"


@dataclass
class Checked:
    cases: int = 0
    events: int = 0
    notes: int = 0
    evidence: int = 0
    evidence_items: int = 0
    custody_events: int = 0
    accounts: int = 0
    changes: int = 0
    problems: list[Mismatch] = field(default_factory=list)


def _event_subject(case_id: Any, event: dict[str, Any]) -> str:
    return f"case {case_id} event {event.get('id')} (seq {event.get('seq')})"


# --- chains -------------------------------------------------------------------------------------


def chain_check(
    events: Iterable[dict[str, Any]], *, current_from_id: int | None = None
) -> Iterator[Mismatch]:
    """Check events given oldest first per case: dicts of EVENT_HASH_FIELDS, id, prev_hash, hash.

    ``current_from_id``: the id of the first event written with ``HASH_VERSION``; an older
    version on an event with a higher id was written (or rewritten) since, outside the service.
    """
    for case_id, group in groupby(events, key=itemgetter("case_id")):
        yield from _case_chain_check(case_id, list(group), current_from_id)


def _case_chain_check(
    case_id: int, events: list[dict[str, Any]], current_from_id: int | None
) -> Iterator[Mismatch]:
    previous = ""
    expected_seq = 1
    newest_version = 0
    for event in events:
        problems = []
        if event["seq"] != expected_seq:
            problems.append(f"expected seq {expected_seq}: an event is missing or duplicated")
        if event["prev_hash"] != previous:
            problems.append("prev_hash does not match the previous event's hash")
        version = hash_version_of(event)
        content = {name: event.get(name) for name in EVENT_HASH_FIELDS}
        try:
            recomputed = event_hash(event["prev_hash"], content)
        except UnknownHashVersion as exc:
            problems.append(str(exc))
        else:
            if event["hash"] != recomputed:
                problems.append("content does not match its hash (edited after it was written)")
        if isinstance(version, int):
            if version < newest_version:
                problems.append(
                    f"hash version {version} after version {newest_version} in the same "
                    "timeline: the event was rewritten outside the service"
                )
            elif (
                version < HASH_VERSION
                and current_from_id is not None
                and isinstance(event.get("id"), int)
                and event["id"] > current_from_id
            ):
                problems.append(
                    f"hash version {version} on an event written after version {HASH_VERSION} "
                    f"was in use (event {current_from_id}): who acted would be outside its hash"
                )
            newest_version = max(newest_version, version)
        for problem in problems:
            yield Mismatch(EVENTS, _event_subject(case_id, event), problem, case_id=case_id)
        previous = event["hash"]
        expected_seq = event["seq"] + 1


# --- rows against their timeline ----------------------------------------------------------------


def state_check(case_id: int, state: str, events: list[dict[str, Any]]) -> Iterator[Mismatch]:
    """The case's state is where its transitions, replayed, leave it."""
    subject = f"case {case_id}"
    if not events:
        yield Mismatch(
            CASES,
            subject,
            f"has no timeline: no event records it, yet its state is '{state}' "
            "(events deleted or truncated)",
            case_id=case_id,
        )
        return
    current: str | None = None
    last: dict[str, Any] | None = None
    for event in events:
        if not event.get("to_state"):
            continue
        if event.get("from_state") and current is not None and event["from_state"] != current:
            yield Mismatch(
                EVENTS,
                _event_subject(case_id, event),
                f"moves the case from '{event['from_state']}' but the timeline before it left "
                f"the case in '{current}'",
                case_id=case_id,
            )
        current, last = event["to_state"], event
    if last is None:
        yield Mismatch(CASES, subject, "its timeline has no event that opened it", case_id=case_id)
    elif current != state:
        yield Mismatch(
            CASES,
            subject,
            f"state is '{state}' but its timeline ends in '{current}' (event {last.get('id')}, "
            f"seq {last.get('seq')}): a later event was deleted, or the state was set by hand",
            case_id=case_id,
        )


@dataclass(frozen=True)
class _Expected:
    """What an event says about a note or evidence row it recorded."""

    row_id: int | None
    values: dict[str, Any]
    event: dict[str, Any]


def _recorded_rows(events: list[dict[str, Any]]) -> tuple[list[_Expected], list[_Expected]]:
    notes: list[_Expected] = []
    evidence: list[_Expected] = []
    for event in events:
        data = event.get("data")
        if not isinstance(data, dict):
            data = {}
        action = event.get("action")
        common = {"created_at": event.get("at"), "corrects_id": data.get("corrects")}
        if action in (EventAction.NOTE, EventAction.NOTE_CORRECTED):
            notes.append(
                _Expected(
                    data.get("note"),
                    {"body": data.get("body"), "author": event.get("actor_label"), **common},
                    event,
                )
            )
        elif action in (EventAction.EVIDENCE, EventAction.EVIDENCE_CORRECTED):
            evidence.append(_Expected(data.get("evidence"), _evidence_values(data, event), event))
        elif action == EventAction.INVESTIGATE and isinstance(data.get("evidence"), list):
            for entry in data["evidence"]:
                if isinstance(entry, dict):
                    values = _evidence_values({**entry, "corrects": None}, event)
                    evidence.append(_Expected(entry.get("id"), values, event))
    return notes, evidence


def _evidence_values(data: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    reference = data.get("reference")
    return {
        # Before references over the limit were refused, the row kept the first REFERENCE_MAX
        # characters of what the event recorded.
        "reference": reference[:REFERENCE_MAX] if isinstance(reference, str) else reference,
        "description": data.get("description", ""),
        "added_by": event.get("actor_label"),
        "created_at": event.get("at"),
        "corrects_id": data.get("corrects"),
    }


def records_check(
    table: str,
    noun: str,
    case_id: int,
    expected: list[_Expected],
    rows: list[dict[str, Any]],
) -> Iterator[Mismatch]:
    """Each row is what the event that recorded it says; each recorded row exists; no other."""
    by_id = {row["id"]: row for row in rows}
    for item in expected:
        source = f"event {item.event.get('id')} (seq {item.event.get('seq')})"
        if item.row_id is None:
            match = next(
                (
                    row_id
                    for row_id, row in by_id.items()
                    if all(row.get(k) == v for k, v in item.values.items())
                ),
                None,
            )
            if match is None:
                yield Mismatch(
                    table,
                    f"of case {case_id}",
                    f"{source} recorded {noun} {item.values.get('reference')!r} but no row "
                    "matches it (deleted or changed outside the service)",
                    case_id=case_id,
                )
            else:
                del by_id[match]
            continue
        row = by_id.pop(item.row_id, None)
        subject = f"{noun} {item.row_id} of case {case_id}"
        if row is None:
            yield Mismatch(
                table,
                subject,
                f"recorded by {source} but missing (deleted, or moved to another case)",
                case_id=case_id,
            )
            continue
        changed = sorted(k for k, v in item.values.items() if row.get(k) != v)
        if changed:
            yield Mismatch(
                table,
                subject,
                f"{', '.join(changed)} differ(s) from what {source} recorded "
                "(changed after it was written)",
                case_id=case_id,
            )
    for row_id in sorted(by_id):
        yield Mismatch(
            table,
            f"{noun} {row_id} of case {case_id}",
            "no event of its case records it (inserted or changed outside the service)",
            case_id=case_id,
        )


# --- the database -------------------------------------------------------------------------------

EVENT_FIELDS = ("id", "prev_hash", "hash", *EVENT_HASH_FIELDS)
NOTE_FIELDS = ("id", "case_id", "body", "author", "created_at", "corrects_id")
EVIDENCE_FIELDS = (
    "id",
    "case_id",
    "reference",
    "description",
    "added_by",
    "created_at",
    "corrects_id",
)
CHUNK = 2000


@contextmanager
def _one_snapshot() -> Iterator[None]:
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    else:
        yield


def _tagged(tag: int, key: str, rows: Iterable[Any]) -> Iterator[tuple[Any, int, Any]]:
    for row in rows:
        yield row[key], tag, row


def audit_verify(*, case_id: int | None = None) -> tuple[int, list[Mismatch]]:
    """Every check over the database (or one case and its account): (events read, problems)."""
    checked = audit_check(case_id=case_id)
    return checked.events, checked.problems


def audit_check(*, case_id: int | None = None, content: bool = False) -> Checked:
    """Run every check over the database (or one case and its account); see the module doc.
    ``content``: also read every evidence item's stored content (``cases.evidence_verify``)."""
    checked = Checked()
    with _one_snapshot():
        _cases_check(checked, case_id, content=content)
        account_id = None
        if case_id is not None:
            account_id = Case.objects.filter(pk=case_id).values_list("account_id", flat=True)[0]
        _accounts_check(checked, account_id)
        _changes_check(checked, case_id=case_id, account_id=account_id)
        if case_id is None:
            _feed_check(checked)
    return checked


def _cases_check(checked: Checked, case_id: int | None, *, content: bool = False) -> None:
    cases = Case.objects.order_by("id")
    events = CaseEvent.objects.order_by("case_id", "seq")
    notes = CaseNote.objects.order_by("case_id", "id")
    evidence = EvidenceReference.objects.order_by("case_id", "id")
    items = EvidenceItem.objects.order_by("case_id", "id")
    custody = CustodyEvent.objects.order_by("item__case_id", "item_id", "seq")
    if case_id is not None:
        cases, events = cases.filter(pk=case_id), events.filter(case_id=case_id)
        notes, evidence = notes.filter(case_id=case_id), evidence.filter(case_id=case_id)
        items, custody = items.filter(case_id=case_id), custody.filter(item__case_id=case_id)
    current_from_id = (
        CaseEvent.objects.filter(hash_version__gte=HASH_VERSION)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    streams = [
        _tagged(0, "id", cases.values("id", "state").iterator(chunk_size=CHUNK)),
        _tagged(1, "case_id", events.values(*EVENT_FIELDS).iterator(chunk_size=CHUNK)),
        _tagged(2, "case_id", notes.values(*NOTE_FIELDS).iterator(chunk_size=CHUNK)),
        _tagged(3, "case_id", evidence.values(*EVIDENCE_FIELDS).iterator(chunk_size=CHUNK)),
        _tagged(4, "case_id", items.values(*ITEM_ROW_FIELDS).iterator(chunk_size=CHUNK)),
        _tagged(5, "item__case_id", custody.values(*CUSTODY_ROW_FIELDS).iterator(chunk_size=CHUNK)),
    ]
    problems = checked.problems
    for cid, group in groupby(heapq.merge(*streams, key=itemgetter(0)), key=itemgetter(0)):
        parts: list[list[dict[str, Any]]] = [[], [], [], [], [], []]
        for _, tag, row in group:
            parts[tag].append(row)
        case_rows, case_events, case_notes, case_evidence, case_items, case_custody = parts
        checked.events += len(case_events)
        checked.notes += len(case_notes)
        checked.evidence += len(case_evidence)
        checked.evidence_items += len(case_items)
        checked.custody_events += len(case_custody)
        problems.extend(_case_chain_check(cid, case_events, current_from_id))
        problems.extend(
            Mismatch(table, subject, problem, case_id=cid)
            for table, subject, problem in evidence_check(
                cid, case_events, case_items, case_custody, content=content
            )
        )
        if not case_rows:
            what = ", ".join(
                f"{len(rows)} {name}"
                for rows, name in (
                    (case_events, EVENTS),
                    (case_notes, NOTES),
                    (case_evidence, EVIDENCE),
                    (case_items, EvidenceItem._meta.db_table),
                )
                if rows
            )
            problems.append(
                Mismatch(CASES, f"case {cid}", f"missing, yet {what} row(s) name it", case_id=cid)
            )
            continue
        checked.cases += 1
        problems.extend(state_check(cid, case_rows[0]["state"], case_events))
        expected_notes, expected_evidence = _recorded_rows(case_events)
        problems.extend(records_check(NOTES, "note", cid, expected_notes, case_notes))
        problems.extend(
            records_check(EVIDENCE, "evidence reference", cid, expected_evidence, case_evidence)
        )


def _derived_status(terminated: bool, suspended: bool, restricted: bool) -> str:
    if terminated:
        return EnforcementStatus.TERMINATED
    if suspended:
        return EnforcementStatus.SUSPENDED
    if restricted:
        return EnforcementStatus.RESTRICTED
    return EnforcementStatus.ACTIVE


def _accounts_check(checked: Checked, account_id: int | None) -> None:
    """Each account's status against its cases and against its enforcement changes."""
    now = timezone.now()
    open_ = Restriction.objects.filter(account=OuterRef("pk"), ended_by__isnull=True).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )
    accounts = Account.objects.order_by("id").annotate(
        any_terminated=Exists(open_.filter(kind=RestrictionKind.TERMINATION)),
        any_suspended=Exists(open_.filter(kind=RestrictionKind.SUSPENSION)),
        any_restricted=Exists(open_.exclude(kind__in=BLOCKING_KINDS)),
    )
    changes = EnforcementChange.objects.order_by("account_id", "seq")
    if account_id is not None:
        accounts, changes = accounts.filter(pk=account_id), changes.filter(account_id=account_id)
    streams = [
        _tagged(
            0,
            "id",
            accounts.values(
                "id",
                "external_id",
                "enforcement_status",
                "enforcement_since",
                "enforcement_restrictions",
                "any_terminated",
                "any_suspended",
                "any_restricted",
            ).iterator(chunk_size=CHUNK),
        ),
        _tagged(
            1,
            "account_id",
            changes.values("seq", "account_id", "status", "previous_status").iterator(
                chunk_size=CHUNK
            ),
        ),
    ]
    problems = checked.problems
    for aid, group in groupby(heapq.merge(*streams, key=itemgetter(0)), key=itemgetter(0)):
        parts: list[list[dict[str, Any]]] = [[], []]
        for _, tag, row in group:
            parts[tag].append(row)
        account_rows, account_changes = parts
        checked.changes += len(account_changes)
        if not account_rows:
            problems.append(
                Mismatch(
                    ACCOUNTS,
                    f"id {aid}",
                    f"missing, yet {len(account_changes)} {CHANGES} row(s) name it",
                )
            )
            continue
        checked.accounts += 1
        account = account_rows[0]
        name = account["external_id"]
        subject = f"{name!r} (id {aid})"
        status = account["enforcement_status"]
        reported = as_of(
            status=status,
            since=iso(account["enforcement_since"]),
            until=None,
            case=None,
            restrictions=account["enforcement_restrictions"] or [],
            now=iso(now),
        )[0]
        derived = _derived_status(
            account["any_terminated"], account["any_suspended"], account["any_restricted"]
        )
        if reported != derived:
            problems.append(
                Mismatch(
                    ACCOUNTS,
                    subject,
                    f"enforcement_status is '{reported}' but its restrictions in force make it "
                    f"'{derived}' (set by hand, or a restriction was)",
                    account=name,
                )
            )
        previous = EnforcementStatus.ACTIVE
        for change in account_changes:
            if change["previous_status"] != previous:
                problems.append(
                    Mismatch(
                        CHANGES,
                        f"seq {change['seq']} of account {name!r}",
                        f"previous_status is '{change['previous_status']}' but the change "
                        f"before it left the account '{previous}' (a change is missing or "
                        "was edited)",
                        account=name,
                    )
                )
            previous = change["status"]
        if status != previous:
            last = account_changes[-1]["seq"] if account_changes else None
            since = f"its last enforcement change (seq {last})" if last else "no enforcement change"
            problems.append(
                Mismatch(
                    ACCOUNTS,
                    subject,
                    f"enforcement_status is '{status}' but {since} left it '{previous}' "
                    "(set by hand, or changes were deleted)",
                    account=name,
                )
            )


def _changes_check(checked: Checked, *, case_id: int | None, account_id: int | None) -> None:
    """Every enforcement change names an event that exists, of the change's own case."""
    recorded = CaseEvent.objects.filter(pk=OuterRef("event_id"), case_id=OuterRef("case_id"))
    dangling = EnforcementChange.objects.filter(event_id__isnull=False).exclude(Exists(recorded))
    if account_id is not None:
        dangling = dangling.filter(account_id=account_id)
    for change in dangling.order_by("seq").values("seq", "case_id", "event_id", "account_id"):
        checked.problems.append(
            Mismatch(
                CHANGES,
                f"seq {change['seq']} of case {change['case_id']}",
                f"names event {change['event_id']}, which is not an event of case "
                f"{change['case_id']} (deleted or re-pointed)",
                case_id=change["case_id"],
            )
        )


def _feed_check(checked: Checked) -> None:
    """The change feed is numbered 1, 2, 3 ... up to its counter: a gap is a deleted change."""
    counter = (
        FeedCounter.objects.filter(name=FeedCounter.ENFORCEMENT)
        .values_list("value", flat=True)
        .first()
    )
    counter = counter or 0
    following = EnforcementChange.objects.filter(seq__gt=OuterRef("seq")).order_by("seq")
    gaps = (
        EnforcementChange.objects.annotate(next_seq=Subquery(following.values("seq")[:1]))
        .exclude(Exists(EnforcementChange.objects.filter(seq=OuterRef("seq") + 1)))
        .order_by("seq")
        .values_list("seq", "next_seq")
    )
    first = EnforcementChange.objects.order_by("seq").values_list("seq", flat=True).first()
    missing: list[tuple[int, int]] = []
    if first is None:
        if counter:
            missing.append((1, counter))
    else:
        if first > 1:
            missing.append((1, first - 1))
        for seq, next_seq in gaps:
            if next_seq is not None:
                missing.append((seq + 1, next_seq - 1))
            elif seq < counter:
                missing.append((seq + 1, counter))
            elif seq > counter:
                checked.problems.append(
                    Mismatch(
                        CHANGES,
                        f"seq {seq}",
                        f"is beyond the feed counter ({counter}): inserted outside the service",
                    )
                )
    for start, end in missing:
        seqs = f"seq {start}" if start == end else f"seq {start}-{end}"
        checked.problems.append(
            Mismatch(
                CHANGES,
                seqs,
                f"missing: the feed counter is at {counter}, so these changes were made and "
                "have since been deleted or truncated",
            )
        )
