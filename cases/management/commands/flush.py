"""Django's ``flush``, which wipes every table, with the append-only guard lifted meanwhile."""

from typing import Any

from django.core.management.commands.flush import Command as FlushCommand

from cases.guards import audit_guard_lifted


class Command(FlushCommand):
    def handle(self, **options: Any) -> None:
        with audit_guard_lifted():
            super().handle(**options)
