"""Who is acting: a staff member, an API client (on its own, or a staff tool naming the person
using it) or the system itself; with which role; and whether a person stood behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accounts.choices import Scope
from accounts.models import ApiClient

from .choices import ActedBy, ActorKind, Role
from .workflow import ROLE_RANK

ROLE_GROUPS = (Role.LEAD, Role.INVESTIGATOR, Role.ANALYST, Role.AUDITOR)
LABEL_MAX = 200  # CaseEvent.actor_label


def client_role(client: ApiClient) -> str | None:
    """The role an API client acts with: its stored role, if it may write cases at all."""
    return client.role if Scope.CASES_WRITE in (client.scopes or []) else None


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


def role_weaker(first: str | None, second: str | None) -> str | None:
    """The weaker of two roles; ``None`` (no role) if either is."""
    if first is None or second is None:
        return None
    return min(first, second, key=lambda r: ROLE_RANK[r])


@dataclass(frozen=True)
class Actor:
    """Who acts on a case. ``kind`` is the credential (``ActorKind``); ``acted_by`` whether a
    person stood behind it (``ActedBy``), which the timeline records and a statement of reasons
    states (``automated_decision``)."""

    kind: str
    label: str
    role: str | None
    user: Any = None
    client: ApiClient | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    acted_by: str = ActedBy.AUTOMATION

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        return cls(
            kind=ActorKind.STAFF,
            label=user.get_username(),
            role=user_role(user),
            user=user,
            acted_by=ActedBy.PERSON,
        )

    @classmethod
    def for_client(cls, client: ApiClient) -> Actor:
        """An API client acting on its own: an automation."""
        return cls(
            kind=ActorKind.API_CLIENT,
            label=f"api:{client.name}",
            role=client_role(client),
            client=client,
            acted_by=ActedBy.AUTOMATION,
        )

    @classmethod
    def for_tool(cls, client: ApiClient, user: Any) -> Actor:
        """A staff member acting through a staff tool's key: both bound what may be done (the
        weaker of the client's role and the person's), and the person is who acted."""
        return cls(
            kind=ActorKind.API_CLIENT,
            label=f"{user.get_username()} via api:{client.name}"[:LABEL_MAX],
            role=role_weaker(client_role(client), user_role(user)),
            user=user,
            client=client,
            acted_by=ActedBy.PERSON_VIA_TOOL,
        )

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(kind=ActorKind.SYSTEM, label=label, role=Role.LEAD, acted_by=ActedBy.AUTOMATION)

    @property
    def is_system(self) -> bool:
        return self.kind == ActorKind.SYSTEM

    @property
    def is_person(self) -> bool:
        return self.acted_by in (ActedBy.PERSON, ActedBy.PERSON_VIA_TOOL)
