"""Decisions and the restrictions they impose or end, and the account's enforcement they derive.

Every decision is made inside the transaction of the case change (or of the expiry job) that
calls for it, with the case row locked: its statement of reasons is built once and stored on it,
its restrictions are written, the restrictions it ends are marked, and the account's enforcement
(status, restrictions in force, the change feed) is derived again under the account's row lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, assert_never

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.cache import enforcement_invalidate_on_commit
from accounts.choices import EnforcementStatus
from accounts.models import Account
from config.times import iso, iso_or_none
from core.actors import Actor
from core.errors import InvalidInput

from ..actions import Command, Dismiss, Investigate, Remediate, RestrictionSpec, Suspend, Terminate
from ..choices import DecisionKind, EventAction, RestrictionKind
from ..enforcement import holder_of, ordered, restriction_view, status_of, until_of
from ..models import Case, CaseEvent, Decision, EnforcementChange, FeedCounter, Restriction
from ..statements import statement_build, statement_reference_new


@dataclass(frozen=True)
class Imposed:
    """A restriction a decision imposes, with its end (``None``: until lifted)."""

    spec: RestrictionSpec
    ends_at: datetime | None = None


@dataclass
class DecisionOutcome:
    """A decision as made, with the enforcement change it caused (if any)."""

    decision: Decision
    change: EnforcementChange | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def restriction_end(
    *, now: datetime, duration: timedelta | None, ends_at: datetime | None
) -> datetime | None:
    """When a restriction given a ``duration`` or an ``ends_at`` ends; ``None``: until lifted.
    An ``ends_at`` not ahead of the transaction's clock is an input error."""
    if duration is not None:
        return now + duration
    if ends_at is not None and ends_at <= now:
        raise InvalidInput(detail="'ends_at' must be in the future.", field="ends_at")
    return ends_at


def _view_of(imposed: Imposed, *, case: Case, at: datetime, reference: str) -> dict[str, Any]:
    return {
        **imposed.spec.as_data(),
        "starts_at": iso(at),
        "ends_at": iso_or_none(imposed.ends_at),
        "decision": reference,
        "case": case.pk,
    }


def restrictions_in_force(*, account_id: int, at: datetime) -> list[Restriction]:
    return list(
        Restriction.objects.filter(account_id=account_id, ended_by__isnull=True, starts_at__lte=at)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
        .select_related("decision")
        .order_by("starts_at", "id")
    )


def case_restrictions_in_force(*, case: Case, at: datetime) -> list[Restriction]:
    return [
        r for r in restrictions_in_force(account_id=case.account_id, at=at) if r.case_id == case.pk
    ]


def decision_make(
    *,
    kind: str,
    case: Case,
    actor: Actor,
    at: datetime,
    reason: str,
    event: CaseEvent | None = None,
    policy_versions: Sequence[dict[str, Any]] = (),
    impose: Sequence[Imposed] = (),
    end: Sequence[Restriction] = (),
    ended_on_their_end: bool = False,
    override_reason: str = "",
    warning: str = "",
    findings: bool = False,
) -> Decision:
    """Record one decision: its statement, the restrictions it imposes and those it ends.

    The caller holds the case's row lock and derives the account's enforcement afterwards
    (:func:`enforcement_derive`). The restrictions in ``end`` stop at ``at``, or at their own
    ``ends_at`` when ``ended_on_their_end`` (an expiry).
    """
    reference = statement_reference_new()
    imposed_views = ordered(_view_of(i, case=case, at=at, reference=reference) for i in impose)
    lifted_views = [restriction_view(r, r.decision.reference) for r in end]
    user = actor.user if actor.user is not None and actor.user.pk else None
    statement = statement_build(
        kind=kind,
        case=case,
        reason=reason,
        at=at,
        acted_by=actor.acted_by,
        policy_versions=list(policy_versions),
        imposed=imposed_views,
        lifted=lifted_views,
        reference=reference,
        findings=findings,
        warning=warning,
    )
    decision = Decision.objects.create(
        reference=reference,
        kind=kind,
        case=case,
        account_id=case.account_id,
        event=event,
        decided_at=at,
        actor_kind=actor.kind,
        acted_by=actor.acted_by,
        actor_label=actor.label,
        actor_user=user,
        actor_client_id=actor.client.pk if actor.client is not None else None,
        automated=statement["automated_decision"] == "fully",
        reason=reason,
        policy_versions=list(policy_versions),
        override_reason=override_reason,
        lifted=[r.pk for r in end],
        statement=statement,
    )
    Restriction.objects.bulk_create(
        Restriction(
            decision=decision,
            account_id=case.account_id,
            case=case,
            kind=i.spec.kind,
            blocked_models=list(i.spec.models),
            blocked_features=list(i.spec.features),
            requests_per_minute=i.spec.requests_per_minute,
            tokens_per_minute=i.spec.tokens_per_minute,
            starts_at=at,
            ends_at=i.ends_at,
        )
        for i in impose
    )
    if end:
        Restriction.objects.filter(pk__in=[r.pk for r in end], ended_by__isnull=True).update(
            ended_by=decision, ended_at=F("ends_at") if ended_on_their_end else at
        )
    return decision


def enforcement_derive(
    *,
    account_id: int,
    case: Case | None,
    event: CaseEvent | None,
    decision: Decision | None,
    at: datetime,
    since: datetime | None = None,
) -> EnforcementChange | None:
    """Derive the account's enforcement from its restrictions in force at ``at`` and record a
    change in the feed if its status or its restrictions moved; ``None`` if nothing did.

    ``since`` is when a new status took effect, if not ``at`` (an expiry: the ``ends_at``).
    """
    account = Account.objects.select_for_update().get(pk=account_id)
    in_force = restrictions_in_force(account_id=account_id, at=at)
    views = ordered(restriction_view(r, r.decision.reference) for r in in_force)
    status = status_of(views)
    until = until_of(views, status)
    if status == account.enforcement_status and views == (account.enforcement_restrictions or []):
        return None
    previous = account.enforcement_status
    effective = since or at
    fields: dict[str, Any] = {
        "enforcement_status": status,
        "enforcement_case_id": holder_of(views),
        "enforcement_restrictions": views,
        "enforcement_until": parse_datetime(until) if until else None,
        "updated_at": at,
    }
    if status != previous:
        fields["enforcement_since"] = effective
    Account.objects.filter(pk=account_id).update(**fields)
    enforcement_invalidate_on_commit(account.external_id)
    # The policies the status rests on: those of the decision behind the most severe
    # restriction still in force (not those of a decision that lifted or ended one).
    holder = next(
        (r for r in in_force if views and r.decision.reference == views[0]["decision"]), None
    )
    policies: list[Any] = list(holder.decision.policy_versions) if holder is not None else []
    change = EnforcementChange.objects.create(
        seq=FeedCounter.objects.next_value(FeedCounter.ENFORCEMENT),
        account_id=account_id,
        case=case,
        event=event,
        decision=decision,
        status=status,
        previous_status=previous,
        policies=policies,
        restrictions=views,
        until=parse_datetime(until) if until else None,
        at=at,
    )
    if status != previous and status in EVASION_STATUSES:
        _match_evasion(account_id)
    return change


# An account that becomes suspended or terminated is matched against the others at once.
EVASION_STATUSES = frozenset({EnforcementStatus.SUSPENDED, EnforcementStatus.TERMINATED})


def _match_evasion(account_id: int) -> None:
    # Imported here as ``_notify`` imports notifications: ``cases.evasion`` stores signals
    # through the intake, which routes them with these services.
    from cases.evasion import evasion_match

    evasion_match(account_id=account_id)


def _notify(case: Case, event: CaseEvent, change: EnforcementChange | None) -> None:
    from notifications.services import notices_record_for_event

    notices_record_for_event(case=case, event=event, change=change)


def restrictions_expire(*, now: datetime | None = None) -> int:
    """Record every restriction that has run out as ended by a ``restriction_expired``
    decision: one per case, with its enforcement change, timeline event and notices.

    Safe to run often and at once with itself or with any decision on the same account: each
    case is locked first (as a transition locks it), and the restrictions due are read again
    under that lock, so a restriction is recorded as expired once. Returns how many decisions
    were made.
    """
    from .transitions import _append_event, _lock_case

    now = now or timezone.now()
    due = (
        Restriction.objects.filter(ended_by__isnull=True, ends_at__lte=now)
        .values_list("case_id", flat=True)
        .distinct()
        .order_by("case_id")
    )
    made = 0
    for case_id in list(due):
        with transaction.atomic():
            case = _lock_case(case_id)
            expired = list(
                Restriction.objects.select_for_update()
                .filter(case=case, ended_by__isnull=True, ends_at__lte=now)
                .select_related("decision")
                .order_by("ends_at", "id")
            )
            if not expired:
                continue
            ended = max(r.ends_at for r in expired if r.ends_at is not None)
            actor = Actor.system("restriction expiry")
            event = _append_event(
                case=case,
                actor=actor,
                action=EventAction.RESTRICTION_EXPIRED,
                at=now,
                reason="A restriction reached its end.",
                data={
                    "restrictions": [r.pk for r in expired],
                    "decisions": sorted({r.decision.reference for r in expired}),
                    "ends_at": iso(ended),
                },
            )
            decision = decision_make(
                kind=DecisionKind.RESTRICTION_EXPIRED,
                case=case,
                actor=actor,
                at=now,
                reason="",
                event=event,
                policy_versions=expired[-1].decision.policy_versions,
                end=expired,
                ended_on_their_end=True,
            )
            change = enforcement_derive(
                account_id=case.account_id,
                case=case,
                event=event,
                decision=decision,
                at=now,
                since=ended,
            )
            _notify(case, event, change)
            made += 1
    return made


def decisions_for_transition(
    *,
    command: Command,
    case: Case,
    actor: Actor,
    event: CaseEvent,
    at: datetime,
    ends_at: datetime | None,
) -> tuple[EnforcementChange | None, Decision | None]:
    """Make the decisions a transition calls for, after its event: the restriction a suspend
    imposes (until ``ends_at``), the reinstatement (with a probation until ``ends_at``) of a
    remediate, the termination, the reinstatement and the warning of a dismiss. Returns the
    enforcement change (if any) and a ``warn`` decision to tell the account of (if any)."""
    citations = list(event.policy_versions or [])
    in_force = case_restrictions_in_force(case=case, at=at)
    common: dict[str, Any] = {
        "case": case,
        "actor": actor,
        "at": at,
        "reason": event.reason,
        "event": event,
        "policy_versions": citations,
    }
    decision: Decision | None = None
    warning: Decision | None = None
    match command:
        case Suspend():
            spec = command.restriction
            decision = decision_make(
                kind=DecisionKind.SUSPEND
                if spec.kind == RestrictionKind.SUSPENSION
                else DecisionKind.RESTRICT,
                impose=[Imposed(spec, ends_at)],
                **common,
            )
        case Remediate():
            probation = command.restriction
            decision = decision_make(
                kind=DecisionKind.REINSTATE,
                impose=[Imposed(probation, ends_at)] if probation is not None else [],
                end=in_force,
                **common,
            )
        case Terminate():
            decision = decision_make(
                kind=DecisionKind.TERMINATE,
                impose=[Imposed(RestrictionSpec(kind=RestrictionKind.TERMINATION))],
                end=in_force,
                override_reason=command.override_reason,
                findings=bool(case.violation_confirmed),
                **common,
            )
        case Dismiss():
            if in_force:
                decision = decision_make(kind=DecisionKind.REINSTATE, end=in_force, **common)
            if command.warning:
                warning = decision_make(kind=DecisionKind.WARN, warning=command.warning, **common)
        case Investigate():
            pass
        case _:
            assert_never(command)
    change = None
    if decision is not None:
        change = enforcement_derive(
            account_id=case.account_id, case=case, event=event, decision=decision, at=at
        )
    return change, warning
