"""Delete what is past its retention period, or with ``--dry-run`` count it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cases.deadlines import parse_now
from cases.retention import CASE_PARTS, KINDS, HoldKept, retention_plan


def _counts(counts: dict[str, int], kinds: tuple[str, ...]) -> str:
    return ", ".join(f"{kind.replace('_', ' ')} {counts.get(kind, 0)}" for kind in kinds)


class Command(BaseCommand):
    help = (
        "Delete the data past its retention period (settings RETENTION_*_DAYS) that no active "
        "legal hold keeps, and record what went (kinds and counts) on the timelines and in a "
        "purge record. --dry-run counts it and deletes nothing. Safe to run at any time."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go; delete nothing."
        )
        parser.add_argument(
            "--now",
            metavar="ISO",
            help="Act as of this time (ISO 8601 with a time zone); default: the current time.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["now"] is not None:
            try:
                now = parse_now(options["now"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        else:
            now = timezone.now()
        if options["dry_run"]:
            plan = retention_plan(now)
            self.stdout.write(f"Dry run as of {now.isoformat()}: nothing deleted.")
            for kind in KINDS:
                self.stdout.write(
                    f"  {kind}: {plan.counts[kind]} past {plan.periods[kind]} days "
                    f"(before {plan.cutoffs[kind]:%Y-%m-%d})"
                )
            self.stdout.write(f"  within the dismissed cases: {_counts(plan.counts, CASE_PARTS)}")
            self._held(plan.held)
            return
        from cases.services.retention import purge_expired

        result = purge_expired(now=now)
        self.stdout.write(
            f"Purged as of {now.isoformat()}: {_counts(result.counts, KINDS)}; within the "
            f"dismissed cases: {_counts(result.counts, CASE_PARTS)}."
        )
        self.stdout.write(
            f"Recorded on {len(result.cases)} case timeline(s) and in purge record "
            f"{result.record.pk if result.record else '-'}."
        )
        self._held(result.held)

    def _held(self, held: list[HoldKept]) -> None:
        if not held:
            self.stdout.write("No active legal hold.")
            return
        for kept in held:
            what = _counts(kept.counts, tuple(kept.counts)) if kept.counts else "nothing due"
            self.stdout.write(
                f"Kept by legal hold {kept.hold} ({kept.legal_reference}) on {kept.on}: {what}."
            )
