"""Who may call an operation: an API client by its scopes, a staff member by their role.

Each view names the scope per HTTP method in ``scopes``. Staff using their session need a
workflow role (workflow.md): any role reads, analysts and up open cases, post signals and take
transitions (the case services then check each action against the role), leads edit accounts
and partners.

A staff tool (an API client marked ``staff_tool``) names the staff member using it in the
``Acting-User`` header: that person must be an active staff member whose role allows the
operation too, and the case services then see that person, bounded by both roles, as the actor.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import exceptions, permissions
from rest_framework.request import Request

from accounts.choices import PARTNER_SCOPES, Scope
from accounts.models import ApiClient
from core.actors import Actor, user_role
from core.roles import Role, role_allows

ACTING_USER_HEADER = "Acting-User"
USERNAME_MAX = 150

STAFF_MIN_ROLE: dict[str, str] = {
    Scope.ENFORCEMENT_READ: Role.AUDITOR,
    Scope.ACCOUNTS_READ: Role.AUDITOR,
    Scope.CASES_READ: Role.AUDITOR,
    Scope.SIGNALS_WRITE: Role.ANALYST,
    Scope.CASES_WRITE: Role.ANALYST,
    Scope.APPEALS_WRITE: Role.ANALYST,
    Scope.ACCOUNTS_WRITE: Role.LEAD,
}


def scope_for(view: Any, method: str) -> str | None:
    scopes: dict[str, str] = getattr(view, "scopes", {})
    if method == "HEAD":
        method = "GET"
    return scopes.get(method)


def caller_may(*, client: ApiClient | None, user: Any, scope: str) -> bool:
    """Whether the caller holds ``scope`` (a client) or a role that stands for it (staff).

    The partner scopes are a partner's key's alone, and such a key holds nothing else: it sees
    only the accounts that reach the API through its partner."""
    if client is not None:
        if (client.partner_id is not None) != (scope in PARTNER_SCOPES):
            return False
        return scope in (client.scopes or [])
    if scope in PARTNER_SCOPES:
        return False
    if user is None or not getattr(user, "is_staff", False):
        return False
    return role_allows(user_role(user), STAFF_MIN_ROLE[scope])


class InvalidActingUser(exceptions.APIException):
    status_code = 400
    default_code = "invalid_acting_user"
    default_detail = f"{ACTING_USER_HEADER} must be a username of 1 to {USERNAME_MAX} characters."


class ActingUserNotAllowed(exceptions.PermissionDenied):
    default_code = "acting_user_not_allowed"
    default_detail = (
        f"Only the key of a staff tool may name the staff member acting ({ACTING_USER_HEADER})."
    )


class ActingUserRefused(exceptions.PermissionDenied):
    default_code = "acting_user_refused"
    default_detail = f"The staff member named in {ACTING_USER_HEADER} may not do this."


_UNRESOLVED = object()


def acting_user(request: Request) -> Any:
    """The staff member a staff tool's request names in ``Acting-User``, or ``None`` if it names
    none. Naming one with any other credential is refused, and so is a name that is not an active
    staff member with a workflow role: the request never silently acts as someone else."""
    resolved = getattr(request, "_acting_user", _UNRESOLVED)
    if resolved is not _UNRESOLVED:
        return resolved
    raw = request.headers.get(ACTING_USER_HEADER)
    user = None
    if raw is not None:
        client = request.auth if isinstance(request.auth, ApiClient) else None
        if client is None or not client.staff_tool:
            raise ActingUserNotAllowed()
        name = raw.strip()
        if not name or len(name) > USERNAME_MAX or not name.isprintable():
            raise InvalidActingUser()
        user = get_user_model().objects.filter(username=name).first()
        if user is None or not user.is_active or not user.is_staff or user_role(user) is None:
            raise ActingUserRefused(f"'{name}' is not an active staff member with a workflow role.")
    setattr(request, "_acting_user", user)  # noqa: B010 -- a Request has no such attribute
    return user


class HasScope(permissions.BasePermission):
    message = "Your key or role does not allow this operation."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method == "OPTIONS":
            # Which methods a path serves is no secret from an authenticated caller.
            if not request.user or not request.user.is_authenticated:
                raise exceptions.NotAuthenticated()
            return True
        scope = scope_for(view, request.method or "GET")
        if scope is None:
            # A method the view does not serve: let the view answer 405.
            return not hasattr(view, (request.method or "").lower())
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        client = request.auth if isinstance(request.auth, ApiClient) else None
        if caller_may(client=client, user=request.user, scope=scope):
            person = acting_user(request)
            if person is not None and not caller_may(client=None, user=person, scope=scope):
                raise ActingUserRefused(
                    f"The role of {person.get_username()} ({user_role(person) or 'none'}) "
                    f"does not allow '{scope}'."
                )
            return True
        if client is not None:
            raise exceptions.PermissionDenied(f"The API key lacks the '{scope}' scope.")
        raise exceptions.PermissionDenied(
            f"Your role ({user_role(request.user) or 'none'}) does not allow '{scope}'."
        )


def client_role(client: ApiClient) -> str | None:
    """The role an API client acts with: its stored role, if it may write cases at all."""
    return client.role if Scope.CASES_WRITE in (client.scopes or []) else None


def request_actor(request: Request) -> Actor:
    """The actor the case services see for this request: a staff member, a staff tool's named
    person, or an API client acting on its own (an automation)."""
    if isinstance(request.auth, ApiClient):
        person = acting_user(request)
        client = request.auth
        role = client_role(client)
        if person is not None:
            return Actor.for_tool(client, person, name=client.name, role=role)
        return Actor.for_client(client, name=client.name, role=role)
    acting_user(request)  # refuses an Acting-User header sent with a session
    return Actor.for_user(request.user)


def request_owner(request: Request) -> str:
    """A stable name of the caller, for idempotency keys: a person through a staff tool is a
    caller of their own, so one person's retry never replays another's answer."""
    if isinstance(request.auth, ApiClient):
        person = acting_user(request)
        if person is not None:
            return f"client:{request.auth.pk}:user:{person.pk}"
        return f"client:{request.auth.pk}"
    return f"user:{request.user.pk}"
