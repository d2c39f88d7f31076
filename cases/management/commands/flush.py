"""Django's ``flush``, which wipes every table, with the append-only guards lifted meanwhile.

On PostgreSQL the TRUNCATE triggers are disabled inside the flush's transaction, which locks the
guarded tables until it ends: the confirmation is asked first, outside it.
"""

from typing import Any

from django.core.management.commands.flush import Command as FlushCommand
from django.db import connections

from cases.guards import audit_guard_lifted, truncate_guards_disabled


class Command(FlushCommand):
    def handle(self, **options: Any) -> None:
        connection = connections[options["database"]]
        if options["interactive"]:
            answer = input(
                f"Every table of the database {connection.settings_dict['NAME']!r} will be "
                "emptied, the audit trail included. Type 'yes' to go on: "
            )
            if answer != "yes":
                self.stdout.write("Flush cancelled.")
                return
        options = {**options, "interactive": False}
        with audit_guard_lifted(), truncate_guards_disabled(connection):
            super().handle(**options)
