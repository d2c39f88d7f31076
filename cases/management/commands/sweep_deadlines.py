"""Run the deadline sweep (and the remediation plan reminders) once, now or as of a given time."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from cases.deadlines import deadlines_sweep, parse_now, plan_reminders_send


class Command(BaseCommand):
    help = (
        "Send the review-deadline reminders and escalations that are due, the partners' "
        "follow-up of enforcement changes, and the remediation plan reminders to accounts. "
        "Safe to run at any time: nothing is sent twice."
    )

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
        result = deadlines_sweep(now=now)
        plans = plan_reminders_send(now=now)
        self.stdout.write(
            f"{now.isoformat()}: {result.reminders} reminder(s), "
            f"{result.escalations} escalation(s), {plans} plan reminder(s), "
            f"{result.partner_reminders} partner reminder(s), "
            f"{result.partner_escalations} partner escalation(s), {result.notices} notice(s)"
        )
        if result.failed:
            raise CommandError(f"{result.failed} case(s) could not be swept; see the log.")
