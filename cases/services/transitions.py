"""Opening a case, its transitions, and what they derive: the account's enforcement status,
the change feed's numbering, the review deadline, the timeline event and the notices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, assert_never

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Account
from config.times import iso, iso_or_none
from core.actors import Actor
from core.errors import Forbidden, InvalidInput, MissingInput
from core.roles import Role, role_allows

from ..actions import (
    MAX_TEXT,
    Command,
    Dismiss,
    Investigate,
    Remediate,
    Suspend,
    Terminate,
)
from ..actions import RemediationPlan as RemediationPlanInput
from ..audit import HASH_VERSION, event_hash
from ..choices import (
    APPROVAL_NEUTRAL_EVENTS,
    OPEN_STATES,
    PRIORITY_RANK,
    TERMINAL_STATES,
    ApprovalState,
    CaseState,
    EventAction,
    Priority,
)
from ..errors import (
    CaseAlreadyOpen,
    CaseError,
    CaseNotFound,
    PlanNotVerified,
    StaleState,
    ViolationNotConfirmed,
)
from ..models import (
    ApprovalRequest,
    Case,
    CaseEvent,
    Decision,
    EnforcementChange,
    EvidenceReference,
    Incident,
    PolicyClause,
    PolicyVersion,
    RemediationItem,
    RemediationPlan,
    ReviewDeadlineRule,
)
from ..workflow import (
    OPEN_MIN_ROLE,
    PLAN_OVERRIDE_MIN_ROLE,
    check_transition,
)
from .decisions import decisions_for_transition, restriction_end
from .snapshots import evidence_snapshot_take

DEFAULT_INVESTIGATED_DEADLINE = timedelta(days=7)


# --- helpers ------------------------------------------------------------------------------------


def _require_role(actor: Actor, min_role: str, what: str) -> None:
    if not role_allows(actor.role, min_role):
        raise Forbidden(detail=f"Role '{actor.role or 'none'}' may not {what}.")


def _text(data: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(detail=f"'{name}' must be text.", field=name)
    value = value.strip()
    if required and not value:
        raise MissingInput(missing=[name])
    if len(value) > MAX_TEXT:
        raise InvalidInput(detail=f"'{name}' is longer than {MAX_TEXT} characters.", field=name)
    return value


def _datetime(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None or timezone.is_naive(parsed):
        raise InvalidInput(
            detail=f"'{name}' must be an ISO 8601 time with a time zone.", field=name
        )
    return parsed


def policies_resolve(codes: Any) -> list[PolicyVersion]:
    """The versions in force of the given policy codes; unknown codes are an input error."""
    if isinstance(codes, str):
        codes = [codes]
    if not isinstance(codes, list | tuple) or not all(isinstance(c, str) for c in codes):
        raise InvalidInput(detail="'policies' must be a list of policy codes.", field="policies")
    wanted = list(dict.fromkeys(codes))
    clauses = {p.code: p for p in PolicyClause.objects.filter(code__in=wanted)}
    unknown = [c for c in wanted if c not in clauses]
    if unknown:
        raise InvalidInput(
            detail=f"Unknown policy code(s): {', '.join(unknown)}.", field="policies"
        )
    versions = {
        (v.policy_id, v.version): v
        for v in PolicyVersion.objects.select_related("policy").filter(policy__code__in=wanted)
    }
    resolved = []
    for code in wanted:
        clause = clauses[code]
        version = versions.get((clause.pk, clause.current_version))
        if version is None:
            raise InvalidInput(detail=f"Policy '{code}' has no version in force.", field="policies")
        resolved.append(version)
    return resolved


def _case_citations(case: Case) -> list[dict[str, Any]]:
    clauses = list(case.policies.all())
    if not clauses:
        return []
    versions = PolicyVersion.objects.filter(
        policy__in=clauses, version__in={c.current_version for c in clauses}
    ).select_related("policy")
    current = {c.pk: c.current_version for c in clauses}
    return sorted(
        (v.citation() for v in versions if current[v.policy_id] == v.version),
        key=lambda c: c["code"],
    )


def review_deadline_for(
    state: str, priority: str, *, start: datetime, plan_deadline: datetime | None = None
) -> datetime | None:
    """When a case entering ``state`` at ``start`` must next move; ``None`` once it is closed."""
    if state in TERMINAL_STATES:
        return None
    if state == CaseState.INVESTIGATED and plan_deadline is not None:
        return plan_deadline
    rule = ReviewDeadlineRule.objects.filter(state=state, priority=priority).first()
    if rule is not None:
        return start + rule.duration
    if state == CaseState.INVESTIGATED:
        return start + DEFAULT_INVESTIGATED_DEADLINE
    return None


def _append_event(
    *,
    case: Case,
    actor: Actor,
    action: str,
    at: datetime,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    policy_versions: Sequence[dict[str, Any]] = (),
    data: dict[str, Any] | None = None,
) -> CaseEvent:
    """Append one timeline event; the caller holds the case row lock (or just created it)."""
    last = CaseEvent.objects.filter(case=case).order_by("-seq").values("seq", "hash").first()
    seq = (last["seq"] + 1) if last else 1
    prev_hash = last["hash"] if last else ""
    user = actor.user if actor.user is not None and actor.user.pk else None
    client_id = actor.client.pk if actor.client is not None else None
    content = {
        "case_id": case.pk,
        "seq": seq,
        "at": at,
        "actor_kind": actor.kind,
        "acted_by": actor.acted_by,
        "actor_label": actor.label,
        "actor_user_id": user.pk if user is not None else None,
        "actor_client_id": client_id,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "reason": reason,
        "policy_versions": list(policy_versions),
        "data": data or {},
        "hash_version": HASH_VERSION,
    }
    event = CaseEvent.objects.create(
        case=case,
        seq=seq,
        at=at,
        actor_kind=actor.kind,
        acted_by=actor.acted_by,
        actor_user=user,
        actor_client_id=client_id,
        actor_label=actor.label,
        action=action,
        from_state=from_state,
        to_state=to_state,
        reason=reason,
        policy_versions=list(policy_versions),
        data=data or {},
        prev_hash=prev_hash,
        hash=event_hash(prev_hash, content),
        hash_version=HASH_VERSION,
    )
    if action not in APPROVAL_NEUTRAL_EVENTS:
        # The case changed: a pending approval no longer decides on what it proposed (ADR 0012).
        ApprovalRequest.objects.filter(case=case, state=ApprovalState.PENDING).update(
            state=ApprovalState.SUPERSEDED, decided_at=at, superseded_by=event
        )
    return event


def _lock_case(case: Case | int) -> Case:
    case_id = case.pk if isinstance(case, Case) else case
    try:
        return Case.objects.select_for_update().get(pk=case_id)
    except (Case.DoesNotExist, ValueError, TypeError):
        raise CaseNotFound(detail=f"Case {case_id} does not exist.") from None


def _notify_transition(
    case: Case,
    event: CaseEvent,
    change: EnforcementChange | None,
    warning: Decision | None = None,
) -> None:
    from notifications.services import notices_record_for_event

    notices_record_for_event(case=case, event=event, change=change, warning=warning)


# --- opening --------------------------------------------------------------------------------


def case_open(
    *,
    account: Account,
    summary: str,
    actor: Actor,
    priority: str = Priority.MEDIUM,
    policies: Iterable[str] = (),
    incidents: Iterable[Incident] = (),
    report: str = "",
) -> Case:
    """Open a flagged case for an account that has none open.

    A case rests on signals (``incidents``) or a person's report; with neither, ``summary``
    is taken as the report. Raises ``CaseAlreadyOpen`` if the account has an open case,
    which the database guarantees even when two callers race.
    """
    if not actor.is_system:
        _require_role(actor, OPEN_MIN_ROLE, "open cases")
    summary = _text({"summary": summary}, "summary")
    if priority not in Priority.values:
        raise InvalidInput(detail=f"Unknown priority '{priority}'.", field="priority")
    versions = policies_resolve(list(policies)) if policies else []
    incidents = list(incidents)
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                case = Case.objects.create(
                    account=account,
                    state=CaseState.FLAGGED,
                    priority=priority,
                    summary=summary,
                    opened_by=actor.label,
                    state_entered_at=now,
                    created_at=now,
                    updated_at=now,
                    review_deadline=review_deadline_for(CaseState.FLAGGED, priority, start=now),
                )
        except IntegrityError:
            existing = (
                Case.objects.filter(account=account, state__in=OPEN_STATES)
                .values_list("pk", flat=True)
                .first()
            )
            raise CaseAlreadyOpen(case_id=existing) from None
        if versions:
            case.policies.set([v.policy for v in versions])
        if not incidents:
            incidents = [
                Incident.objects.create(
                    account=account,
                    case=case,
                    reported_by=actor.label,
                    kind="report",
                    severity=priority,
                    summary=report or summary,
                    first_seen=now,
                    last_seen=now,
                )
            ]
        else:
            Incident.objects.filter(pk__in=[i.pk for i in incidents]).update(case=case)
        event = _append_event(
            case=case,
            actor=actor,
            action=EventAction.OPEN,
            at=now,
            to_state=CaseState.FLAGGED,
            reason=summary,
            policy_versions=[v.citation() for v in versions],
            data={
                "priority": priority,
                "incidents": [i.pk for i in incidents],
                **({"report": report} if report else {}),
            },
        )
        _notify_transition(case, event, None)
    return case


def incident_route(*, incident: Incident, actor: Actor | None = None) -> Case:
    """Attach an incident to its account's open case, or open a flagged case for it.

    Two incidents racing for one account end in one case: the loser of the insert finds the
    winner's case and attaches to it.
    """
    actor = actor or Actor.system("flag rules")
    for _ in range(5):
        open_id = (
            Case.objects.filter(account_id=incident.account_id, state__in=OPEN_STATES)
            .values_list("pk", flat=True)
            .first()
        )
        if open_id is not None:
            attached = case_incident_attach(case=open_id, incident=incident, actor=actor)
            if attached is not None:
                return attached
            continue
        try:
            return case_open(
                account=incident.account,
                summary=incident.summary or f"{incident.kind} on {incident.account.external_id}",
                actor=actor,
                priority=incident.severity,
                policies=[incident.policy.code] if incident.policy_id and incident.policy else [],
                incidents=[incident],
            )
        except CaseAlreadyOpen:
            continue
    raise CaseError(detail="Could not route the incident to a case; retry.")


def case_incident_attach(*, case: Case | int, incident: Incident, actor: Actor) -> Case | None:
    """Attach to an open case, raising its priority to the incident's if worse (leads hear of a
    rise to high or critical).

    Returns ``None`` if the case closed in the meantime (the caller then opens a new one).
    """
    with transaction.atomic():
        locked = _lock_case(case)
        if locked.state not in OPEN_STATES:
            return None
        now = timezone.now()
        Incident.objects.filter(pk=incident.pk).update(case=locked)
        if incident.policy_id:
            locked.policies.add(incident.policy_id)
        data: dict[str, Any] = {"incident": incident.pk, "kind": incident.kind}
        if PRIORITY_RANK[Priority(incident.severity)] < PRIORITY_RANK[Priority(locked.priority)]:
            data["priority"] = {"from": locked.priority, "to": incident.severity}
            deadline = review_deadline_for(
                locked.state,
                incident.severity,
                start=locked.state_entered_at,
                plan_deadline=_plan_deadline(locked),
            )
            data["review_deadline"] = iso_or_none(deadline)
            Case.objects.filter(pk=locked.pk).update(
                priority=incident.severity, review_deadline=deadline, updated_at=now
            )
        event = _append_event(
            case=locked,
            actor=actor,
            action=EventAction.INCIDENT,
            at=now,
            reason=incident.summary,
            data=data,
        )
        locked.refresh_from_db()
        _notify_transition(locked, event, None)
        return locked


def _plan_deadline(case: Case) -> datetime | None:
    return RemediationPlan.objects.filter(case=case).values_list("deadline", flat=True).first()


# --- transitions ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Applied:
    """What applying an action's input decided, for ``case_transition`` to record."""

    reason: str
    event_data: dict[str, Any] = field(default_factory=dict)  # the timeline event's ``data``
    citations: list[dict[str, Any]] | None = None  # None: the case's policies in force
    case_fields: dict[str, Any] = field(default_factory=dict)  # columns of the case to set
    plan_deadline: datetime | None = None  # the remediation plan's, when one was made
    ends_at: datetime | None = None  # the end of the restriction the action imposes, if any


def case_transition(
    *,
    case: Case | int,
    command: Command,
    actor: Actor,
    expected_state: str | None = None,
    approval: ApprovalRequest | None = None,
) -> Case:
    """Move a case along the workflow by ``command`` (``cases.actions``), or raise and change
    nothing.

    ``expected_state``, when given, must be the case's state now (else ``StaleState``): a
    person acting on what they saw is told if someone else moved the case first. People and
    clients reach this through ``cases.services.case_act``, which turns an action that needs
    four eyes into an approval request; ``approval`` is the approved request whose input this
    carries out (``cases.services.approvals``), recorded on the event.
    """
    action = command.action
    with transaction.atomic():
        locked = _lock_case(case)
        if expected_state is not None and locked.state != expected_state:
            raise StaleState(expected=expected_state, actual=locked.state)
        transition = check_transition(locked.state, action, actor.role)
        now = timezone.now()
        applied = _apply(locked, command, actor, now)
        changes: dict[str, Any] = {
            "state": transition.target,
            "state_entered_at": now,
            "updated_at": now,
            "review_deadline": review_deadline_for(
                transition.target,
                locked.priority,
                start=now,
                plan_deadline=applied.plan_deadline,
            ),
            **applied.case_fields,
        }
        if transition.target in TERMINAL_STATES:
            changes["closed_at"] = now
        # Compare-and-swap on the state we checked: belt and braces with the row lock.
        if not Case.objects.filter(pk=locked.pk, state=transition.source).update(**changes):
            raise StaleState(expected=transition.source, actual="changed")
        citations = applied.citations
        if citations is None:
            citations = _case_citations(locked)
        event_data = applied.event_data
        if approval is not None:
            event_data = {
                **event_data,
                "approval": {
                    "id": approval.pk,
                    "proposed_by": approval.proposed_by_label,
                    "proposed_at": iso(approval.proposed_at),
                    "approved_by": approval.decided_by_label,
                    "approved_at": iso_or_none(approval.decided_at),
                },
            }
        event = _append_event(
            case=locked,
            actor=actor,
            action=action,
            at=now,
            from_state=transition.source,
            to_state=transition.target,
            reason=applied.reason,
            policy_versions=citations,
            data=event_data,
        )
        locked.refresh_from_db()
        change, warning = decisions_for_transition(
            command=command,
            case=locked,
            actor=actor,
            event=event,
            at=now,
            ends_at=applied.ends_at,
        )
        _notify_transition(locked, event, change, warning)
        if isinstance(command, Suspend | Terminate):
            evidence_snapshot_take(case=locked, event=event, at=now)
    return locked


def _apply(case: Case, command: Command, actor: Actor, now: datetime) -> Applied:
    """Apply one action's input to the locked case: the one place each action is decided."""
    match command:
        case Suspend():
            return _apply_suspend(case, command, now)
        case Investigate():
            return _apply_investigate(case, command, actor, now)
        case Remediate():
            return _apply_remediate(case, command, actor, now)
        case Terminate():
            return _apply_terminate(case, command, actor)
        case Dismiss():
            data = {"warning": command.warning} if command.warning else {}
            return Applied(reason=command.reason, event_data=data)
    assert_never(command)


def _apply_suspend(case: Case, command: Suspend, now: datetime) -> Applied:
    versions = policies_resolve(list(command.policies))
    case.policies.add(*[v.policy for v in versions])
    spec = command.restriction
    ends_at = restriction_end(now=now, duration=command.duration, ends_at=command.ends_at)
    return Applied(
        reason=command.reason,
        citations=[v.citation() for v in versions],
        event_data={
            "policies": [v.policy.code for v in versions],
            "restriction": spec.as_data(),
            "ends_at": iso_or_none(ends_at),
        },
        ends_at=ends_at,
    )


def _plan_deadline_of(plan: RemediationPlanInput, now: datetime) -> datetime:
    if plan.deadline is not None:
        deadline = plan.deadline
    else:
        assert plan.deadline_days is not None  # noqa: S101 -- the input type holds one of them
        deadline = now + timedelta(days=plan.deadline_days)
    if deadline <= now:
        raise InvalidInput(
            detail="'remediation.deadline' must be in the future.", field="remediation.deadline"
        )
    return deadline


def _apply_investigate(case: Case, command: Investigate, actor: Actor, now: datetime) -> Applied:
    deadline = (
        _plan_deadline_of(command.remediation, now) if command.remediation is not None else None
    )
    evidence: list[dict[str, Any]] = []
    for entry in command.evidence:
        # The event records each reference with its id: verify_audit holds the rows to it.
        row = EvidenceReference.objects.create(
            case=case,
            reference=entry.reference,
            description=entry.description,
            added_by=actor.label,
            created_at=now,
        )
        evidence.append(
            {"reference": entry.reference, "description": entry.description, "id": row.pk}
        )
    data: dict[str, Any] = {
        "violation_confirmed": command.violation_confirmed,
        "evidence": evidence,
    }
    if command.remediation is not None and deadline is not None:
        items = list(command.remediation.items)
        created = RemediationPlan.objects.create(case=case, deadline=deadline, created_at=now)
        RemediationItem.objects.bulk_create(
            RemediationItem(plan=created, position=i, description=text)
            for i, text in enumerate(items)
        )
        data["remediation"] = {"items": items, "deadline": iso(deadline)}
    return Applied(
        reason=command.findings,
        case_fields={
            "findings": command.findings,
            "violation_confirmed": command.violation_confirmed,
        },
        event_data=data,
        plan_deadline=deadline,
    )


def _apply_remediate(case: Case, command: Remediate, actor: Actor, now: datetime) -> Applied:
    data: dict[str, Any] = {}
    plan = RemediationPlan.objects.filter(case=case).first()
    if plan is not None:
        unverified = plan.items.filter(verified_at__isnull=True).count()
        if unverified:
            if not command.override_reason:
                raise PlanNotVerified(unverified=unverified)
            _require_role(actor, PLAN_OVERRIDE_MIN_ROLE, "override an unverified remediation plan")
            data = {"override_reason": command.override_reason, "unverified_items": unverified}
        RemediationPlan.objects.filter(pk=plan.pk).update(
            verified_at=now, verification_note=command.verification_note
        )
    ends_at = None
    if command.restriction is not None:
        ends_at = restriction_end(now=now, duration=command.duration, ends_at=command.ends_at)
        data["probation"] = {
            **command.restriction.as_data(),
            "ends_at": iso_or_none(ends_at),
        }
    return Applied(reason=command.verification_note, event_data=data, ends_at=ends_at)


def transition_check(case: Case, command: Command, actor: Actor) -> None:
    """Check what applying ``command`` to the locked case would check, writing nothing: what a
    proposal for four eyes is held to (``cases.services.approvals``)."""
    match command:
        case Terminate():
            _terminate_checked(case, command, actor)
        case Suspend() | Investigate() | Remediate() | Dismiss():
            raise InvalidInput(detail=f"'{command.action}' needs no approval.", field="action")
        case _:
            assert_never(command)


def _terminate_checked(case: Case, command: Terminate, actor: Actor) -> list[PolicyVersion]:
    if case.violation_confirmed is not True:
        # Terminating is for a confirmed violation; a lead may decide otherwise, on the record.
        if not command.override_reason:
            raise ViolationNotConfirmed()
        _require_role(actor, Role.LEAD, "terminate against the investigation's finding")
    return policies_resolve(list(command.policies)) if command.policies else []


def _apply_terminate(case: Case, command: Terminate, actor: Actor) -> Applied:
    data: dict[str, Any] = {}
    versions = _terminate_checked(case, command, actor)
    if case.violation_confirmed is not True:
        data["override_reason"] = command.override_reason
    if versions:
        case.policies.add(*[v.policy for v in versions])
    return Applied(reason=command.rationale, event_data=data)
