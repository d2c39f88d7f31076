"""Who is acting: a staff member, an API client (on its own, or a staff tool naming the person
using it) or the system itself; with which role; and whether a person stood behind it.

An API client's role comes from its credential (``accounts.api.permissions.client_role``), which
the caller passes in: this module knows roles, not how a client is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models

from .roles import ROLE_GROUPS, ROLE_RANK, Role, role_weaker

LABEL_MAX = 200  # CaseEvent.actor_label


class ActorKind(models.TextChoices):
    STAFF = "staff", "Staff"
    API_CLIENT = "api_client", "API client"
    SYSTEM = "system", "System"


class ActedBy(models.TextChoices):
    """Who took an action, as a statement of reasons must tell it: a person or an automation.

    ``ActorKind`` says which credential acted (a staff session, an API key, the system itself);
    this says whether a person stood behind it. An API key acts as an automation unless it is a
    staff tool that names the person using it.
    """

    PERSON = "person", "A person (in the admin, or with their own session)"
    PERSON_VIA_TOOL = "person_via_tool", "A person, through a staff tool that names them"
    AUTOMATION = "automation", "An automation (an API client on its own, or the system)"


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
    """Who acts on a case. ``kind`` is the credential (``ActorKind``); ``acted_by`` whether a
    person stood behind it (``ActedBy``), which the timeline records and a statement of reasons
    states (``automated_decision``). ``client`` is the API client's row, if one acted."""

    kind: str
    label: str
    role: str | None
    user: Any = None
    client: models.Model | None = None
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
    def for_client(cls, client: models.Model, *, name: str, role: str | None) -> Actor:
        """An API client acting on its own, with the role its credential gives: an automation."""
        return cls(
            kind=ActorKind.API_CLIENT,
            label=f"api:{name}",
            role=role,
            client=client,
            acted_by=ActedBy.AUTOMATION,
        )

    @classmethod
    def for_tool(cls, client: models.Model, user: Any, *, name: str, role: str | None) -> Actor:
        """A staff member acting through a staff tool's key: both bound what may be done (the
        weaker of the client's role and the person's), and the person is who acted."""
        return cls(
            kind=ActorKind.API_CLIENT,
            label=f"{user.get_username()} via api:{name}"[:LABEL_MAX],
            role=role_weaker(role, user_role(user)),
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
