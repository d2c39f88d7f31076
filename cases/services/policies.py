"""Versioned policy clauses: a change of wording is a new version, never an edit."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.actors import Actor
from core.errors import Forbidden, InvalidInput
from core.roles import Role, role_allows

from ..models import PolicyClause, PolicyVersion

POLICY_MIN_ROLE = Role.LEAD


def _require_lead(actor: Actor, what: str) -> None:
    if not actor.is_system and not role_allows(actor.role, POLICY_MIN_ROLE):
        raise Forbidden(detail=f"Role '{actor.role or 'none'}' may not {what}.")


def policy_revise(
    *,
    policy: PolicyClause | None,
    code: str,
    title: str,
    text: str,
    severity: str,
    actor: Actor,
) -> PolicyClause:
    """Create a clause with its first version, or append a version if the wording changed.

    Decisions cite ``(code, version)``; a version's text is never edited afterwards, so a
    notice sent yesterday still points at the words in force yesterday. The clause row is
    locked so that two leads editing at once make versions n+1 and n+2, not two n+1. Saving
    the same title, text and severity adds nothing.
    """
    _require_lead(actor, "edit policies")
    if not (text or "").strip():
        raise InvalidInput(detail="The clause needs its text.", field="text")
    now = timezone.now()
    with transaction.atomic():
        if policy is None:
            clause = PolicyClause.objects.create(
                code=code, title=title, severity=severity, current_version=1, created_at=now
            )
            PolicyVersion.objects.create(
                policy=clause,
                version=1,
                title=title,
                text=text,
                severity=severity,
                effective_from=now,
                created_by=actor.user,
            )
            return clause
        clause = PolicyClause.objects.select_for_update().get(pk=policy.pk)
        current = PolicyVersion.objects.filter(
            policy=clause, version=clause.current_version
        ).first()
        if current is not None and (current.title, current.text, current.severity) == (
            title,
            text,
            severity,
        ):
            return clause
        latest = PolicyVersion.objects.filter(policy=clause).aggregate(n=Max("version"))["n"] or 0
        number = max(latest, clause.current_version) + 1
        PolicyVersion.objects.create(
            policy=clause,
            version=number,
            title=title,
            text=text,
            severity=severity,
            effective_from=now,
            created_by=actor.user,
        )
        PolicyClause.objects.filter(pk=clause.pk).update(
            current_version=number, title=title, severity=severity
        )
        clause.refresh_from_db()
        return clause
