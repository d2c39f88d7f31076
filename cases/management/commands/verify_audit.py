"""Check the audit trail: ``manage.py verify_audit [--case ID] [--export FILE]``.

Prints one line per problem, naming the table, the row (and its case or account) and what is
wrong, then fails with a one-line summary; prints one OK line when everything holds. What is
checked is described in ``cases.audit_verify``.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from cases.audit_verify import Checked, Mismatch, audit_check, chain_check, state_check
from cases.models import Case


class Command(BaseCommand):
    help = (
        "Verify the audit trail: hash chains, case states, notes and evidence against the "
        "timeline, evidence custody chains, account statuses against enforcement changes; exits "
        "non-zero naming each problem."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--case", type=int, help="Only this case (and its account).")
        parser.add_argument("--export", help="Verify a case export file instead of the database.")
        parser.add_argument(
            "--content",
            action="store_true",
            help="Also read every evidence item's stored content and check its SHA-256.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["export"]:
            checked = self._from_export(options["export"])
            summary = f"{checked.events} events of case export {options['export']}"
        else:
            if options["case"] is not None and not Case.objects.filter(pk=options["case"]).exists():
                raise CommandError(f"case {options['case']} does not exist")
            checked = audit_check(case_id=options["case"], content=options["content"])
            summary = (
                f"{checked.events} events of {checked.cases} cases, {checked.notes} notes, "
                f"{checked.evidence} evidence references, {checked.evidence_items} evidence "
                f"items with {checked.custody_events} custody events, {checked.accounts} "
                f"accounts, {checked.changes} enforcement changes"
            )
        problems = checked.problems
        for problem in problems:
            self.stdout.write(str(problem))
        if problems:
            raise CommandError(_failure(problems, summary))
        self.stdout.write(
            self.style.SUCCESS(f"OK: {summary}; every chain intact, every record consistent")
        )

    def _from_export(self, path: str) -> Checked:
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
            case_id = document["case"]["id"]
            state = document["case"]["state"]
            timeline = document["timeline"]
            events = []
            for event in timeline:
                row = dict(event)
                row["case_id"] = case_id
                row["at"] = parse_datetime(event["at"])
                events.append(row)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"cannot read case export {path}: {exc}") from None
        checked = Checked(cases=1, events=len(events))
        checked.problems.extend(chain_check(events))
        checked.problems.extend(state_check(case_id, state, events))
        return checked


def _failure(problems: list[Mismatch], summary: str) -> str:
    cases = sorted({p.case_id for p in problems if p.case_id is not None})
    accounts = sorted({p.account for p in problems if p.account is not None})
    where = [f"{len(cases)} case(s) ({', '.join(map(str, cases))})"] if cases else []
    if accounts:
        where.append(f"{len(accounts)} account(s) ({', '.join(accounts)})")
    others = sum(1 for p in problems if p.case_id is None and p.account is None)
    if others:
        where.append(f"{others} other record(s)")
    return f"{len(problems)} problem(s) in {' and '.join(where)} over {summary}"
