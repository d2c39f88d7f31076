"""Who may call an operation: an API client by its scopes, a staff member by their role.

Each view names the scope per HTTP method in ``scopes``. Staff using their session need a
workflow role (workflow.md): any role reads, analysts and up open cases, post signals and take
transitions (the case services then check each action against the role), leads edit accounts
and partners.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.request import Request

from accounts.choices import Scope
from accounts.models import ApiClient
from cases.actors import Actor, user_role
from cases.choices import Role
from cases.workflow import role_allows

STAFF_MIN_ROLE: dict[str, str] = {
    Scope.ENFORCEMENT_READ: Role.AUDITOR,
    Scope.ACCOUNTS_READ: Role.AUDITOR,
    Scope.CASES_READ: Role.AUDITOR,
    Scope.SIGNALS_WRITE: Role.ANALYST,
    Scope.CASES_WRITE: Role.ANALYST,
    Scope.ACCOUNTS_WRITE: Role.LEAD,
}


def scope_for(view: Any, method: str) -> str | None:
    scopes: dict[str, str] = getattr(view, "scopes", {})
    if method == "HEAD":
        method = "GET"
    return scopes.get(method)


def caller_may(*, client: ApiClient | None, user: Any, scope: str) -> bool:
    """Whether the caller holds ``scope`` (a client) or a role that stands for it (staff)."""
    if client is not None:
        return scope in (client.scopes or [])
    if user is None or not getattr(user, "is_staff", False):
        return False
    return role_allows(user_role(user), STAFF_MIN_ROLE[scope])


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
            return True
        if client is not None:
            raise exceptions.PermissionDenied(f"The API key lacks the '{scope}' scope.")
        raise exceptions.PermissionDenied(
            f"Your role ({user_role(request.user) or 'none'}) does not allow '{scope}'."
        )


def request_actor(request: Request) -> Actor:
    """The actor the case services see for this request."""
    if isinstance(request.auth, ApiClient):
        return Actor.for_client(request.auth)
    return Actor.for_user(request.user)


def request_owner(request: Request) -> str:
    """A stable name of the caller, for idempotency keys."""
    if isinstance(request.auth, ApiClient):
        return f"client:{request.auth.pk}"
    return f"user:{request.user.pk}"
