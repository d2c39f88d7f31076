"""Create an API client and print its key once; ``--revoke`` revokes an existing one.

With ``--key-file PATH`` the key is written to ``PATH`` (readable by its owner alone) instead of
printed, and a file that already holds the active key of a client with every scope asked for is
kept as it is: what a deployment script (or ``make gateway``) runs on every start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.authentication import client_for_key
from accounts.choices import Scope
from accounts.models import ApiClient
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
        parser.add_argument(
            "--key-file",
            metavar="PATH",
            type=Path,
            help="Write the key to PATH (mode 0600) instead of printing it; if PATH already "
            "holds the active key of a client with these scopes, keep it and create nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        key_file: Path | None = options["key_file"]
        if key_file is not None and not options["revoke"]:
            kept = _client_of_file(key_file)
            if kept is not None and set(options["scopes"]) <= set(kept.scopes):
                self.stderr.write(f"{key_file} holds the active key of {kept.name}; kept.")
                return
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
        if key_file is not None:
            _write_secret(key_file, key + "\n")
            self.stderr.write(
                f"Created {client.name}{tool} with {', '.join(client.scopes)}; "
                f"its key is in {key_file}."
            )
            return
        self.stderr.write(
            f"Created {client.name}{tool} with {', '.join(client.scopes)}; the key is shown once:"
        )
        self.stdout.write(key)


def _client_of_file(path: Path) -> ApiClient | None:
    """The active client whose key ``path`` holds, or ``None`` (no file, or a key that is
    revoked, unknown or malformed)."""
    try:
        key = path.read_text().strip()
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    return client_for_key(key) if key else None


def _write_secret(path: Path, text: str) -> None:
    """``text`` into ``path``, readable by its owner alone, replacing it whole or not at all."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
