"""List API clients: name, key prefix, scopes, role, whether revoked and whether a staff tool
(never the key)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from accounts.models import ApiClient


class Command(BaseCommand):
    help = "List API clients (the keys themselves are never stored)."

    def handle(self, *args: Any, **options: Any) -> None:
        for client in ApiClient.objects.order_by("name"):
            state = (
                f"revoked {client.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if client.revoked_at else "active"
            )
            self.stdout.write(
                f"{client.name}\ttsk_{client.key_prefix}_…\t{','.join(client.scopes)}"
                f"\t{client.role}\t{state}" + ("\tstaff tool" if client.staff_tool else "")
            )
