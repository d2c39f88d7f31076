"""Statements of reasons in the Transparency Database's schema (docs/transparency.md):

    manage.py export_statements --since 2026-11-01 --until 2026-12-01 [--format json|ndjson]
    manage.py export_statements --since ... --until ... --submit URL

``--since`` is inclusive, ``--until`` exclusive; a date is midnight UTC. ``--submit`` sends them
to the API's multiple-statements endpoint at URL with the token in ``DSA_TDB_TOKEN``, each puid
once (``cases.services.statement_submissions``), and prints what it did.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from cases.services.statement_submissions import statements_submit
from cases.transparency import SubmissionFailed, TransparencyClient, statements_export

TOKEN_ENV = "DSA_TDB_TOKEN"  # noqa: S105 -- the variable's name, not a secret


def moment(text: str, name: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 time (UTC when it names no offset)."""
    try:
        parsed = parse_datetime(text)
        day = None if parsed else parse_date(text)
    except ValueError:
        parsed = day = None
    if parsed is None and day is not None:
        parsed = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if parsed is None:
        raise CommandError(f"--{name}: {text!r} is not a date (YYYY-MM-DD) or an ISO 8601 time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Export (or submit) the statements of reasons of a period in the DSA database's schema."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--since", required=True, help="From (inclusive): date or ISO time.")
        parser.add_argument("--until", required=True, help="To (exclusive): date or ISO time.")
        parser.add_argument("--format", choices=("json", "ndjson"), default="json")
        parser.add_argument(
            "--submit", metavar="URL", help=f"Send them there (token in {TOKEN_ENV})."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        since = moment(options["since"], "since")
        until = moment(options["until"], "until")
        if until <= since:
            raise CommandError("--until must be after --since")
        statements = statements_export(since=since, until=until)
        if options["submit"]:
            self._submit(options["submit"], statements)
            return
        if options["format"] == "ndjson":
            for statement in statements:
                self.stdout.write(json.dumps(statement.payload, ensure_ascii=False))
        else:
            payloads = [s.payload for s in statements]
            self.stdout.write(json.dumps(payloads, indent=2, ensure_ascii=False))

    def _submit(self, url: str, statements: Any) -> None:
        if not url.startswith(("https://", "http://")):
            raise CommandError("--submit needs an http(s) URL")
        token = os.environ.get(TOKEN_ENV, "")
        if not token:
            raise CommandError(f"--submit needs the API token in {TOKEN_ENV}")
        client = TransparencyClient(url, token)
        try:
            result = statements_submit(
                client=client,
                statements=statements,
                batch_size=int(getattr(settings, "DSA_TDB_BATCH_SIZE", 100)),
            )
        except SubmissionFailed as exc:
            raise CommandError(
                f"the Transparency Database refused a batch ({exc}); what it accepted before "
                "is recorded, and a new run resumes"
            ) from None
        finally:
            client.close()
        self.stdout.write(
            f"{result.created} statement(s) created, {result.already_present} already present, "
            f"{result.skipped} sent before, in {result.calls} call(s) (run {result.batch})"
        )
