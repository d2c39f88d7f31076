"""The transparency report's figures for a period as CSV (docs/transparency.md):

    manage.py transparency_report --from 2026-01-01 --to 2026-07-01 [--output FILE]

``--from`` inclusive, ``--to`` exclusive; a date is midnight UTC.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cases.management.commands.export_statements import moment
from cases.transparency_report import transparency_report


class Command(BaseCommand):
    help = "Write the transparency report's figures (counts, shares, exact medians) as CSV."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--from", dest="start", required=True, help="Date or ISO time.")
        parser.add_argument("--to", dest="end", required=True, help="Date or ISO time (excl.).")
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        start, end = moment(options["start"], "from"), moment(options["end"], "to")
        if end <= start:
            raise CommandError("--to must be after --from")
        text = transparency_report(start=start, end=end).csv()
        if options["output"]:
            try:
                with open(options["output"], "w", encoding="utf-8", newline="") as handle:
                    handle.write(text)
            except OSError as exc:
                raise CommandError(f"cannot write {options['output']}: {exc}") from None
        else:
            self.stdout.write(text, ending="")
