"""Who is acting: a staff member, an API client or the system itself, and with which role."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accounts.choices import Scope
from accounts.models import ApiClient

from .choices import ActorKind, Role
from .workflow import ROLE_RANK

ROLE_GROUPS = (Role.LEAD, Role.INVESTIGATOR, Role.ANALYST, Role.AUDITOR)


def user_role(user: Any) -> str | None:
    """The strongest workflow role of a staff user (a superuser counts as a lead)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not getattr(user, "is_active", False):
        return None
    cached = getattr(user, "_ts_role", "")
    if cached != "":
        return cached
    role: str | None
    if getattr(user, "is_superuser", False):
        role = Role.LEAD
    else:
        names = set(user.groups.values_list("name", flat=True))
        held = [r for r in ROLE_GROUPS if r in names]
        role = max(held, key=lambda r: ROLE_RANK[r]) if held else None
    user._ts_role = role
    return role


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str
    role: str | None
    user: Any = None
    client: ApiClient | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        return cls(
            kind=ActorKind.STAFF,
            label=user.get_username(),
            role=user_role(user),
            user=user,
        )

    @classmethod
    def for_client(cls, client: ApiClient) -> Actor:
        role = client.role if Scope.CASES_WRITE in (client.scopes or []) else None
        return cls(kind=ActorKind.API_CLIENT, label=f"api:{client.name}", role=role, client=client)

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(kind=ActorKind.SYSTEM, label=label, role=Role.LEAD)

    @property
    def is_system(self) -> bool:
        return self.kind == ActorKind.SYSTEM
