"""Check a case bundle with nothing but the bundle: ``manage.py verify_export BUNDLE``.

Prints one line per problem, naming the file (and the row) it is about, then fails; prints one
OK line when everything holds. What is checked: ``cases.bundle``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cases.bundle import verify_bundle


class Command(BaseCommand):
    help = (
        "Verify a case bundle (export_case --bundle): file hashes, evidence against its records, "
        "custody chains and the timeline's hash chain; exits non-zero naming each problem."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("bundle")

    def handle(self, *args: Any, **options: Any) -> None:
        checked = verify_bundle(options["bundle"])
        for problem in checked.problems:
            self.stdout.write(problem)
        if checked.problems:
            raise CommandError(f"{len(checked.problems)} problem(s) in {options['bundle']}")
        self.stdout.write(
            self.style.SUCCESS(
                f"OK: {options['bundle']}: {checked.files} files, {checked.items} evidence "
                f"items and {checked.events} events; every hash and chain intact"
            )
        )
