"""Recompute the timeline hash chains: ``manage.py verify_audit [--case ID] [--export FILE]``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from cases.audit_verify import audit_verify, chain_check
from cases.models import Case


class Command(BaseCommand):
    help = "Verify the hash chains of case timelines; exits non-zero naming each mismatch."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--case", type=int, help="Only this case.")
        parser.add_argument("--export", help="Verify a case export file instead of the database.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["export"]:
            checked, problems = self._from_export(options["export"])
        else:
            if options["case"] is not None and not Case.objects.filter(pk=options["case"]).exists():
                raise CommandError(f"case {options['case']} does not exist")
            checked, problems = audit_verify(case_id=options["case"])
        for problem in problems:
            self.stdout.write(str(problem))
        if problems:
            cases = sorted({p.case_id for p in problems})
            raise CommandError(
                f"{len(problems)} mismatch(es) in {len(cases)} case(s) "
                f"({', '.join(map(str, cases))}) over {checked} events"
            )
        self.stdout.write(self.style.SUCCESS(f"OK: {checked} events, every chain intact"))

    def _from_export(self, path: str) -> tuple[int, list[Any]]:
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
            case_id = document["case"]["id"]
            timeline = document["timeline"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"cannot read case export {path}: {exc}") from None
        events = []
        for event in timeline:
            row = dict(event)
            row["case_id"] = case_id
            row["at"] = parse_datetime(event["at"])
            events.append(row)
        return len(events), list(chain_check(events))
