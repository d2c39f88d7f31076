"""Create an API client and print its key once; ``--revoke`` revokes an existing one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.choices import Scope
from accounts.services import ApiClientError, api_client_create, api_client_revoke
from core.roles import Role


class Command(BaseCommand):
    help = (
        "Create an API client: prints its key once (only a hash is stored). "
        "With --revoke, revoke the client of that name instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--scope",
            action="append",
            default=[],
            dest="scopes",
            metavar="SCOPE",
            help=f"Repeat for each scope: {', '.join(Scope.values)}.",
        )
        parser.add_argument(
            "--role",
            default=Role.ANALYST,
            help="Bounds the transitions a client with cases:write may take (default analyst).",
        )
        parser.add_argument(
            "--staff-tool",
            action="store_true",
            help="An internal tool used by staff: its requests may name the staff member acting "
            "(Acting-User header), who is then recorded as the one who decided.",
        )
        parser.add_argument(
            "--partner",
            metavar="CODE",
            help="Bind the key to this partner (with the partner:read and partner:report "
            "scopes only): it sees only the accounts that reach the API through that partner.",
        )
        parser.add_argument("--revoke", action="store_true", help="Revoke the client's key.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["revoke"]:
                client = api_client_revoke(name=options["name"])
                self.stdout.write(f"revoked {client.name}")
                return
            client, key = api_client_create(
                name=options["name"],
                scopes=options["scopes"],
                role=options["role"],
                staff_tool=options["staff_tool"],
                partner=options["partner"],
            )
        except ApiClientError as exc:
            raise CommandError(str(exc)) from None
        tool = " (a staff tool)" if client.staff_tool else ""
        if client.partner is not None:
            tool = f" (the key of partner {client.partner.code})"
        self.stderr.write(
            f"Created {client.name}{tool} with {', '.join(client.scopes)}; the key is shown once:"
        )
        self.stdout.write(key)
