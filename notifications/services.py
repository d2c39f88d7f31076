"""Records the notices that a change of a case calls for, in the caller's transaction.

Who hears of what follows ``notices.md``. Each notice is one outbox row; sending happens only
after the transaction commits.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from cases.choices import ActorKind, CaseState, EventAction, Priority, Role
from cases.models import Case, CaseEvent, EnforcementChange

from .choices import Channel, WebhookEvent
from .models import Notice, WebhookEndpoint

ENFORCEMENT_EVENTS = {
    "suspended": WebhookEvent.SUSPENDED,
    "terminated": WebhookEvent.TERMINATED,
    "active": WebhookEvent.REINSTATED,
}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    text: str = value.isoformat().replace("+00:00", "Z")
    return text


def _endpoints_for(case: Case, event_type: str) -> list[tuple[WebhookEndpoint, str | None]]:
    """Active endpoints subscribed to ``event_type`` that may hear of this account.

    A partner's endpoint hears only of accounts with a channel through that partner; an
    endpoint without a partner (an internal subscriber) hears of every account.
    """
    partner_ids = list(case.account.channels.values_list("partner_id", flat=True))
    endpoints = (
        WebhookEndpoint.objects.filter(active=True)
        .filter(Q(partner__isnull=True) | Q(partner_id__in=partner_ids))
        .select_related("partner")
    )
    return [
        (e, e.partner.code if e.partner else None)
        for e in endpoints
        if event_type in (e.event_types or [])
    ]


def _webhooks(case: Case, event_type: str, data: dict[str, Any], at: Any) -> list[Notice]:
    notices = []
    for endpoint, channel in _endpoints_for(case, event_type):
        notices.append(
            Notice(
                case=case,
                account=case.account,
                channel=Channel.WEBHOOK,
                event=event_type,
                recipient=endpoint.url,
                endpoint=endpoint,
                payload={
                    "type": event_type,
                    "timestamp": _iso(at),
                    "data": {**data, "channel": channel}
                    if event_type != WebhookEvent.CASE_TRANSITIONED
                    else data,
                },
            )
        )
    return notices


def _account_emails(case: Case, kind: str, context: dict[str, Any]) -> list[Notice]:
    return [
        Notice(
            case=case,
            account=case.account,
            channel=Channel.EMAIL,
            event=kind,
            recipient=address,
            payload=context,
        )
        for address in case.account.contacts or []
    ]


def _staff(case: Case, kind: str, users: Any, context: dict[str, Any]) -> list[Notice]:
    return [
        Notice(
            case=case,
            account=case.account,
            channel=Channel.STAFF,
            event=kind,
            recipient=user.email,
            payload=context,
        )
        for user in users
        if user.email
    ]


def leads() -> Any:
    User = get_user_model()
    return (
        User.objects.filter(is_active=True)
        .filter(Q(groups__name=Role.LEAD) | Q(is_superuser=True))
        .distinct()
    )


def notices_record_for_event(
    *, case: Case, event: CaseEvent, change: EnforcementChange | None
) -> list[Notice]:
    """Write the outbox rows that ``event`` calls for, and dispatch them after commit."""
    notices: list[Notice] = []
    base = {"case": str(case.pk), "account": case.account.external_id, "event": event.pk}
    if event.action == EventAction.OPEN:
        if case.priority in (Priority.CRITICAL, Priority.HIGH):
            notices += _staff(case, "case.opened", leads(), base)
    elif event.action == EventAction.ASSIGN:
        if case.assignee is not None:
            notices += _staff(case, "case.assigned", [case.assignee], base)
    elif event.from_state and event.to_state:
        if change is not None:
            notices += _enforcement(case, event, change)
        if event.action == EventAction.INVESTIGATE and event.data.get("remediation"):
            notices += _account_emails(case, "remediation_required", base)
        notices += _webhooks(
            case,
            WebhookEvent.CASE_TRANSITIONED,
            {
                "case": str(case.pk),
                "account": case.account.external_id,
                "action": event.action,
                "from": event.from_state,
                "to": event.to_state,
                "actor_kind": event.actor_kind,
                "at": _iso(event.at),
            },
            event.at,
        )
    return notices_save(notices)


def notices_save(notices: list[Notice]) -> list[Notice]:
    """Store outbox rows in the caller's transaction and dispatch them after it commits.

    Every producer of notices (case changes, the deadline sweep, digests) goes through here.
    """
    if not notices:
        return []
    Notice.objects.bulk_create(notices)
    notices_dispatch_on_commit([n.pk for n in notices])
    return notices


def _enforcement(case: Case, event: CaseEvent, change: EnforcementChange) -> list[Notice]:
    event_type = ENFORCEMENT_EVENTS[change.status]
    email_kind = {
        "suspended": "suspension",
        "terminated": "termination",
        "active": "reinstatement",
    }[change.status]
    notices = _account_emails(
        case,
        email_kind,
        {
            "case": str(case.pk),
            "account": case.account.external_id,
            "event": event.pk,
            "change": change.seq,
            "dismissed": event.action == EventAction.DISMISS
            and event.from_state == CaseState.INVESTIGATED,
        },
    )
    notices += _webhooks(
        case,
        event_type,
        {
            "account": case.account.external_id,
            "status": change.status,
            "previous_status": change.previous_status,
            "since": _iso(change.at),
            "case": str(case.pk),
            "policies": change.policies,
            "change": change.seq,
        },
        change.at,
    )
    return notices


def notices_dispatch_on_commit(ids: list[Any]) -> None:
    """Queue the notices once the surrounding transaction has committed."""
    if not ids:
        return

    def _enqueue() -> None:
        from .tasks import notices_enqueue

        notices_enqueue(ids)

    transaction.on_commit(_enqueue)


__all__ = ["ActorKind", "notices_dispatch_on_commit", "notices_record_for_event"]
