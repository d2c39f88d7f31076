"""``manage.py webhook_endpoint add|list|disable|enable``: manage partners' webhook endpoints.

``add URL --partner CODE --event TYPE [--event TYPE ...]`` prints the new endpoint's
``whsec_`` secret once; only its ciphertext is stored. Bad input exits non-zero with one line
on stderr and changes nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.actors import Actor
from core.errors import DomainError
from notifications.choices import WebhookEvent
from notifications.models import WebhookEndpoint
from notifications.services import endpoint_create, endpoint_disable, endpoint_enable


class Command(BaseCommand):
    help = "Add, list, disable or enable webhook endpoints."

    def run_from_argv(self, argv: list[str]) -> None:
        try:
            super().run_from_argv(argv)
        except CommandError as exc:  # a usage error, raised before Django's own handler
            self.stderr.write(f"{type(exc).__name__}: {exc}")
            sys.exit(exc.returncode)

    def add_arguments(self, parser: CommandParser) -> None:
        # Usage errors become one CommandError line on stderr instead of argparse's usage
        # dump; set before the subparsers are made, which copy it.
        parser.called_from_command_line = False
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Register an endpoint and print its secret once.")
        add.add_argument("url")
        add.add_argument("--partner", help="Partner code; omit for an internal subscriber.")
        add.add_argument(
            "--event",
            dest="events",
            action="append",
            required=True,
            help="Event type: " + ", ".join(WebhookEvent.values) + " (repeat for more).",
        )
        add.add_argument("--description", default="")
        sub.add_parser("list", help="List endpoints (never their secrets).")
        disable = sub.add_parser("disable", help="Stop sending to an endpoint.")
        disable.add_argument("id")
        enable = sub.add_parser(
            "enable", help="Send to a disabled endpoint again, and resend its stopped notices."
        )
        enable.add_argument("id")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system("manage.py webhook_endpoint")
        try:
            if options["action"] == "add":
                with transaction.atomic():
                    endpoint, secret = endpoint_create(
                        url=options["url"],
                        event_types=options["events"],
                        partner=options["partner"],
                        description=options["description"],
                        actor=actor,
                    )
                self.stdout.write(f"endpoint {endpoint.pk}: {endpoint.url}")
                self.stdout.write(f"events: {' '.join(endpoint.event_types)}")
                self.stdout.write(f"secret (shown once, store it now): {secret}")
            elif options["action"] == "list":
                for e in WebhookEndpoint.objects.select_related("partner").order_by("id"):
                    self.stdout.write(
                        f"{e.pk}\t{'active' if e.active else 'disabled'}\t"
                        f"{e.partner.code if e.partner else '-'}\t{e.url}\t"
                        f"{','.join(e.event_types)}"
                    )
            elif options["action"] == "enable":
                endpoint, resumed = endpoint_enable(endpoint_id=options["id"], actor=actor)
                self.stdout.write(
                    f"endpoint {endpoint.pk} enabled: {endpoint.url}; "
                    f"{resumed} stopped notice(s) sent again"
                )
            else:
                endpoint = endpoint_disable(endpoint_id=options["id"], actor=actor)
                self.stdout.write(f"endpoint {endpoint.pk} disabled: {endpoint.url}")
        except DomainError as exc:
            raise CommandError(exc.detail) from None
