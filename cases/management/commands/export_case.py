"""Write a case's whole record as JSON: ``manage.py export_case ID [--output FILE]``; or, with
``--bundle FILE``, as a zip bundle with its evidence files and custody logs (``cases.bundle``),
each evidence item's export recorded on its chain of custody."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cases.errors import EvidenceCorrupted
from cases.export import case_export
from cases.models import Case
from cases.services.bundles import case_bundle_export
from core.actors import Actor


class Command(BaseCommand):
    help = "Export a case (account, signals, cited policy versions, timeline, notices) as JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("case_id", type=int)
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")
        parser.add_argument("--bundle", help="Write a zip bundle with the evidence to this file.")
        parser.add_argument("--reason", default="", help="Why: recorded on each item's custody.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["bundle"]:
            self._bundle(options["case_id"], options["bundle"], options["reason"])
            return
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

    def _bundle(self, case_id: int, path: str, reason: str) -> None:
        if not Case.objects.filter(pk=case_id).exists():
            raise CommandError(f"case {case_id} does not exist")
        try:
            with open(path, "xb") as handle:
                count = case_bundle_export(
                    case_id=case_id,
                    actor=Actor.system("manage.py export_case"),
                    out=handle,
                    reason=reason,
                )
        except FileExistsError:
            raise CommandError(f"{path} exists: a bundle is never overwritten") from None
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc}") from None
        except EvidenceCorrupted as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"wrote {path}: case {case_id} with {count} evidence file(s)")
