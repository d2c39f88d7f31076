"""Write a case's whole record as JSON: ``manage.py export_case ID [--output FILE]``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cases.export import case_export
from cases.models import Case


class Command(BaseCommand):
    help = "Export a case (account, signals, cited policy versions, timeline, notices) as JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("case_id", type=int)
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            document = case_export(case_id=options["case_id"])
        except Case.DoesNotExist:
            raise CommandError(f"case {options['case_id']} does not exist") from None
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
        if options["output"]:
            try:
                with open(options["output"], "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
            except OSError as exc:
                raise CommandError(f"cannot write {options['output']}: {exc}") from None
        else:
            self.stdout.write(text)
