"""Send the daily digest of open cases to each staff member who has any."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cases.deadlines import digests_send, parse_now


class Command(BaseCommand):
    help = "Send today's digest to each staff member with open cases (at most once a day each)."

    def add_arguments(self, parser: CommandParser) -> None:
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
        sent = digests_send(now=now)
        self.stdout.write(f"{now.isoformat()}: {sent} digest(s)")
