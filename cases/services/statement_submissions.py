"""Submitting statements of reasons to the Transparency Database, each puid once
(docs/transparency.md).

A statement with a ``StatementSubmission`` for the endpoint is not sent again. The others go in
batches of at most ``BATCH_MAX``; an accepted batch is recorded (``created``) in one
transaction as soon as the API answers. A batch refused because the API already holds a puid
(a run that stopped between the API's answer and the record, or statements sent by other means)
is retried without the puids the refusal names, which are recorded ``already_present``; when
the refusal names none, the batch is split in halves and each half tried, down to single
statements. Any other refusal stops the run: what was recorded stays, and the next run
resumes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import transaction

from ..models import StatementSubmission
from ..transparency import BATCH_MAX, ExportedStatement, TransparencyClient


@dataclass
class SubmissionResult:
    batch: uuid.UUID
    created: int = 0
    already_present: int = 0
    skipped: int = 0
    calls: int = 0
    puids: list[str] = field(default_factory=list)


def _record(
    client: TransparencyClient,
    statements: Iterable[ExportedStatement],
    outcome: str,
    result: SubmissionResult,
) -> None:
    rows = [
        StatementSubmission(
            endpoint=client.url,
            puid=s.puid,
            decision_id=s.decision_id,
            outcome=outcome,
            batch=result.batch,
        )
        for s in statements
    ]
    with transaction.atomic():
        StatementSubmission.objects.bulk_create(rows, ignore_conflicts=True)
    if outcome == StatementSubmission.Outcome.CREATED:
        result.created += len(rows)
    else:
        result.already_present += len(rows)
    result.puids.extend(row.puid for row in rows)


def _send(
    client: TransparencyClient, batch: Sequence[ExportedStatement], result: SubmissionResult
) -> None:
    result.calls += 1
    answer = client.send(batch)
    if answer.accepted:
        _record(client, batch, StatementSubmission.Outcome.CREATED, result)
        return
    held = [s for s in batch if s.puid in answer.existing]
    rest = [s for s in batch if s.puid not in answer.existing]
    if held:
        _record(client, held, StatementSubmission.Outcome.ALREADY_PRESENT, result)
        if rest:
            _send(client, rest, result)
        return
    if len(batch) == 1:
        # Refused for its puid, which is then the one the API holds.
        _record(client, batch, StatementSubmission.Outcome.ALREADY_PRESENT, result)
        return
    middle = len(batch) // 2
    _send(client, batch[:middle], result)
    _send(client, batch[middle:], result)


def statements_submit(
    *, client: TransparencyClient, statements: Iterable[ExportedStatement], batch_size: int
) -> SubmissionResult:
    """Send the ``statements`` not yet recorded for ``client.url``; see the module's text.
    Raises ``SubmissionFailed`` on any other refusal, after recording the batches before."""
    result = SubmissionResult(batch=uuid.uuid4())
    size = max(1, min(BATCH_MAX, batch_size))
    wanted = list(statements)
    sent = set(
        StatementSubmission.objects.filter(
            endpoint=client.url, puid__in=[s.puid for s in wanted]
        ).values_list("puid", flat=True)
    )
    todo: list[ExportedStatement] = []
    for statement in wanted:
        if statement.puid in sent:
            result.skipped += 1
        else:
            sent.add(statement.puid)  # a puid twice in one period is sent once
            todo.append(statement)
    for start in range(0, len(todo), size):
        _send(client, todo[start : start + size], result)
    return result
