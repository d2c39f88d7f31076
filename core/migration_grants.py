"""Giving the role groups the permissions that a migration's new models bring.

The groups are made by ``cases`` migration 0002 from ``core.roles``; a model added later brings
permissions that ``core.roles`` grants to some roles, and the migration that adds it gives them
to the groups that exist (a database made from scratch gets them the same way). Django creates
permissions only after all migrations ran, so they are created here first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth.management import create_permissions

Grant = Callable[[Any, Any], None]


def role_grants(app_labels: Iterable[str], wanted: Callable[[str, str], bool]) -> Grant:
    """A ``RunPython`` function: create the permissions of ``app_labels``' models, then give
    each role group those of its ``core.roles`` permissions that ``wanted(app_label, codename)``
    accepts."""
    labels = tuple(app_labels)

    def grant(apps: Any, schema_editor: Any) -> None:
        from core.roles import role_permissions

        for label in labels:
            app_config = apps.get_app_config(label)
            app_config.models_module = True
            create_permissions(app_config, verbosity=0)
            app_config.models_module = None
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
        for role, perms in role_permissions().items():
            group = Group.objects.filter(name=role).first()
            if group is None:
                continue
            for app_label, codename in perms:
                if wanted(app_label, codename):
                    perm = Permission.objects.filter(
                        content_type__app_label=app_label, codename=codename
                    ).first()
                    if perm is not None:
                        group.permissions.add(perm)

    return grant


def grants_of(*permissions: tuple[str, str]) -> Grant:
    """``role_grants`` for these (app label, codename) permissions."""
    named = frozenset(permissions)
    return role_grants(sorted({label for label, _ in named}), lambda a, c: (a, c) in named)
