"""Records the notices that a change calls for, in the caller's transaction, and manages
webhook endpoints.

Who hears of what follows ``notices.md``: account contacts by e-mail, the account's partners
by signed webhook, staff by e-mail. Each notice is one outbox row, rendered when recorded
(``notifications.rendering``); sending happens only after the transaction commits
(``notifications.tasks``), and a periodic sweep picks up whatever was never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.choices import EnforcementStatus
from accounts.models import Account, Partner
from accounts.models import Channel as Channel_
from cases.choices import PRIORITY_RANK, CaseState, EventAction, Priority
from cases.models import (
    ApprovalRequest,
    Case,
    CaseEvent,
    Decision,
    EnforcementChange,
    RemediationPlan,
)
from config.times import iso, iso_or_none
from core.actors import Actor
from core.errors import Forbidden, InvalidInput
from core.roles import Role, role_allows

from .choices import Channel, NoticeStatus, PropagationTrigger, WebhookEvent
from .crypto import secret_encrypt, secret_generate
from .errors import EndpointNotFound, NoticeNotFound, RedeliveryNotAllowed
from .models import Notice, Propagation, WebhookEndpoint
from .propagations import (
    partner_urls,
    propagations_record,
    propagations_resumed,
    propagations_undeliverable,
)
from .rendering import notice_render
from .urls_check import webhook_url_check

logger = logging.getLogger(__name__)

ENFORCEMENT_EVENTS = {
    "restricted": WebhookEvent.RESTRICTED,
    "suspended": WebhookEvent.SUSPENDED,
    "terminated": WebhookEvent.TERMINATED,
    "active": WebhookEvent.REINSTATED,
}
ENFORCEMENT_EMAILS = {
    "restricted": "restriction",
    "suspended": "suspension",
    "terminated": "termination",
    "active": "reinstatement",
}
ENDPOINT_MIN_ROLE = Role.LEAD
REDELIVER_MIN_ROLE = Role.INVESTIGATOR


# --- who hears of what ----------------------------------------------------------------------


def _endpoints_for(
    account_id: int, event_type: str, partner_ids: Iterable[int] | None = None
) -> list[tuple[WebhookEndpoint, str | None]]:
    """Active endpoints subscribed to ``event_type`` that may hear of this account.

    A partner's endpoint hears only of accounts with a channel through that partner; an
    endpoint without a partner (an internal subscriber) hears of every account. With
    ``partner_ids``, only those partners' endpoints.
    """
    if partner_ids is None:
        partner_ids = Channel_.objects.filter(account_id=account_id).values_list(
            "partner_id", flat=True
        )
        scope = Q(partner__isnull=True) | Q(partner_id__in=list(partner_ids))
    else:
        scope = Q(partner_id__in=list(partner_ids))
    endpoints = (
        WebhookEndpoint.objects.filter(active=True)
        .filter(scope)
        .select_related("partner")
        .order_by("id")
    )
    return [
        (e, e.partner.code if e.partner else None)
        for e in endpoints
        if event_type in (e.event_types or [])
    ]


def _webhooks(
    case: Case | None,
    account: Account,
    event_type: str,
    data: dict[str, Any],
    at: datetime,
    partner_ids: Iterable[int] | None = None,
) -> list[Notice]:
    notices = []
    for endpoint, channel in _endpoints_for(account.pk, event_type, partner_ids):
        body = dict(data)
        if event_type != WebhookEvent.CASE_TRANSITIONED:
            body["channel"] = channel
        notices.append(
            Notice(
                case=case,
                account=account,
                channel=Channel.WEBHOOK,
                event=event_type,
                recipient=endpoint.url,
                endpoint=endpoint,
                payload={"type": event_type, "timestamp": iso_or_none(at), "data": body},
            )
        )
    return notices


def _account_base(case: Case, event: CaseEvent) -> dict[str, Any]:
    return {
        "case": case.pk,
        "event": event.pk,
        "account": case.account.external_id,
        "account_name": case.account.name or case.account.external_id,
        "at": iso_or_none(event.at),
    }


def _account_emails(
    case: Case,
    kind: str,
    payload: dict[str, Any],
    statement: dict[str, Any] | None = None,
) -> list[Notice]:
    return [
        Notice(
            case=case,
            account=case.account,
            channel=Channel.EMAIL,
            event=kind,
            recipient=address,
            payload=payload,
            statement=statement or {},
            statement_reference=(statement or {}).get("reference", ""),
        )
        for address in dict.fromkeys(case.account.contacts or [])
        if isinstance(address, str) and address.strip()
    ]


def _staff(case: Case, kind: str, users: Any, payload: dict[str, Any]) -> list[Notice]:
    return [
        Notice(
            case=case,
            account=case.account,
            channel=Channel.STAFF,
            event=kind,
            recipient=user.email,
            payload={**payload, "staff_name": user.get_full_name() or user.get_username()},
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
        .order_by("pk")
    )


def _staff_base(case: Case, event: CaseEvent) -> dict[str, Any]:
    return {
        "case": case.pk,
        "event": event.pk,
        "account": case.account.external_id,
        "account_name": case.account.name or case.account.external_id,
        "priority": case.priority,
        "state": case.state,
        "summary": case.summary,
        "review_deadline": iso_or_none(case.review_deadline),
        "actor": event.actor_label,
        "admin_path": f"/admin/cases/case/{case.pk}/change/",
    }


URGENT = (Priority.CRITICAL, Priority.HIGH)


def priority_rise(event: CaseEvent) -> tuple[str, str] | None:
    """``(from, to)`` if ``event`` raised the case's priority to high or critical, else ``None``.

    Attaching an incident records its change under ``data["priority"]``, a change by hand under
    ``data["from"]``/``data["to"]``. Only a rise counts: each is one event, so leads hear of it
    once, and a later incident of the same priority changes nothing and says nothing.
    """
    change = event.data.get("priority") if event.action == EventAction.INCIDENT else event.data
    if not isinstance(change, dict):
        return None
    before, after = change.get("from"), change.get("to")
    if before not in Priority.values or after not in URGENT:
        return None
    if PRIORITY_RANK[Priority(after)] >= PRIORITY_RANK[Priority(before)]:
        return None
    return str(before), str(after)


def announced(change: EnforcementChange | None) -> bool:
    """Whether ``change`` is news to the account and its partners: its status moved, or what a
    restricted account may do did. A second suspension of a suspended account is not."""
    if change is None:
        return False
    return change.status != change.previous_status or change.status == "restricted"


def notices_record_for_event(
    *,
    case: Case,
    event: CaseEvent,
    change: EnforcementChange | None,
    warning: Decision | None = None,
    outcome: Decision | None = None,
) -> list[Notice]:
    """Write the outbox rows that ``event`` calls for (notices.md), dispatched after commit.

    Account e-mails and enforcement webhooks announce an enforcement *change* (``announced``):
    a transition that leaves the account's status as it was (another case holds it) announces
    nothing new. ``warning`` is a ``warn`` decision made with the event: the account is told,
    with its statement, though nothing is restricted. ``outcome`` is the decision that decided
    an appeal (``appeal_decided``): the account is told of it with its statement.
    """
    notices: list[Notice] = []
    if warning is not None:
        notices += _account_emails(
            case, "warning", {**_account_base(case, event)}, warning.statement
        )
    if event.action == EventAction.OPEN:
        if case.priority in URGENT:
            notices += _staff(case, "case.opened", leads(), _staff_base(case, event))
    elif event.action in (EventAction.INCIDENT, EventAction.PRIORITY):
        rise = priority_rise(event)
        if rise is not None:
            payload = {
                **_staff_base(case, event),
                "previous_priority": rise[0],
                "priority": rise[1],
                "reason": event.reason,
            }
            if event.action == EventAction.INCIDENT:
                payload["incident_kind"] = event.data.get("kind", "")
            notices += _staff(case, "case.priority_raised", leads(), payload)
    elif event.action == EventAction.ASSIGN:
        # Whoever takes a case knows it: only someone assigned by another person hears of it.
        if case.assignee is not None and case.assignee_id != event.actor_user_id:
            notices += _staff(case, "case.assigned", [case.assignee], _staff_base(case, event))
    elif event.action == EventAction.APPEAL_RECEIVED:
        notices += _account_emails(case, "appeal_received", _appeal_base(case, event))
    elif event.action == EventAction.APPEAL_DECIDED:
        if announced(change):
            assert change is not None  # noqa: S101 -- announced() says so
            notices += _enforcement(case, event, change)
        if outcome is not None:
            payload = {
                **_appeal_base(case, event),
                "outcome": event.data.get("outcome", ""),
                "outcome_decision": outcome.reference,
                "reason": event.reason,
                "dispute_body": settings.DISPUTE_SETTLEMENT_BODY,
                "dispute_url": settings.DISPUTE_SETTLEMENT_URL,
            }
            notices += _account_emails(case, "appeal_decided", payload, outcome.statement)
    elif event.action == EventAction.RESTRICTION_EXPIRED:
        if announced(change):
            assert change is not None  # noqa: S101 -- announced() says so
            notices += _enforcement(case, event, change)
    elif event.from_state and event.to_state:
        if announced(change):
            assert change is not None  # noqa: S101 -- announced() says so
            notices += _enforcement(case, event, change)
        if event.action == EventAction.INVESTIGATE and event.data.get("remediation"):
            notices += _remediation_required(case, event)
        notices += _webhooks(
            case,
            case.account,
            WebhookEvent.CASE_TRANSITIONED,
            {
                "case": case.pk,
                "account": case.account.external_id,
                "action": event.action,
                "from": event.from_state,
                "to": event.to_state,
                "actor_kind": event.actor_kind,
                "at": iso_or_none(event.at),
            },
            event.at,
        )
    return notices_save(notices)


APPROVAL_NOTICES = ("approval.requested", "approval.reminder", "approval.rejected")


def notices_record_for_approval(
    *, approval: ApprovalRequest, kind: str, users: Any, event: CaseEvent | None = None
) -> list[Notice]:
    """Tell staff of a four-eyes request (notices.md): the other leads when it is proposed
    (``approval.requested``) and before it expires (``approval.reminder``), the proposer when it
    is rejected (``approval.rejected``). In the caller's transaction, dispatched after commit."""
    if kind not in APPROVAL_NOTICES:
        raise ValueError(f"not an approval notice: {kind}")
    case = approval.case
    payload = {
        "case": case.pk,
        "event": event.pk if event is not None else None,
        "account": case.account.external_id,
        "account_name": case.account.name or case.account.external_id,
        "priority": case.priority,
        "state": case.state,
        "summary": case.summary,
        "approval": approval.pk,
        "action": approval.action,
        "proposed_by": approval.proposed_by_label,
        "proposed_at": iso(approval.proposed_at),
        "expires_at": iso(approval.expires_at),
        "rationale": approval.comment,
        "override_reason": approval.input.get("override_reason", ""),
        "decided_by": approval.decided_by_label,
        "decision_comment": approval.decision_comment,
        "admin_path": f"/admin/cases/approvalrequest/{approval.pk}/change/",
    }
    return notices_save(_staff(case, kind, users, payload))


def _appeal_base(case: Case, event: CaseEvent) -> dict[str, Any]:
    return {
        **_account_base(case, event),
        "appeal": event.data.get("appeal"),
        "decision": event.data.get("decision", ""),
        "submitted_by": event.data.get("submitted_by", ""),
        "review_deadline": event.data.get("review_deadline"),
    }


def _remediation_required(case: Case, event: CaseEvent) -> list[Notice]:
    plan = RemediationPlan.objects.filter(case=case).first()
    if plan is None:
        return []
    payload = {
        **_account_base(case, event),
        "findings": case.findings,
        "items": list(plan.items.order_by("position").values_list("description", flat=True)),
        "deadline": iso_or_none(plan.deadline),
    }
    return _account_emails(case, "remediation_required", payload)


def _enforcement(case: Case, event: CaseEvent, change: EnforcementChange) -> list[Notice]:
    """The account's e-mail and the partners' webhooks of one enforcement change; both point
    at the decision behind it, whose statement of reasons the e-mail carries."""
    expired = event.action == EventAction.RESTRICTION_EXPIRED
    # A restriction that ran out is told as such, whatever still applies afterwards.
    kind = "reinstatement" if expired else ENFORCEMENT_EMAILS[change.status]
    decision = change.decision
    reference = decision.reference if decision is not None else None
    payload: dict[str, Any] = {
        **_account_base(case, event),
        "change": change.seq,
        "status": change.status,
        "previous_status": change.previous_status,
        "since": iso_or_none(change.account.enforcement_since),
        "until": iso_or_none(change.until),
        "decision": reference,
    }
    statement = decision.statement if decision is not None else None
    payload["expired"] = expired
    payload["appeal"] = event.action == EventAction.APPEAL_DECIDED
    if change.status == "active":
        payload["no_violation"] = (
            event.action == EventAction.DISMISS and event.from_state == CaseState.INVESTIGATED
        )
        payload["reason"] = event.reason
    notices = _account_emails(case, kind, payload, statement)
    webhooks = _webhooks(
        case,
        case.account,
        ENFORCEMENT_EVENTS[change.status],
        _enforcement_data(change, case.account),
        change.at,
    )
    partners = Partner.objects.filter(channels__account_id=case.account_id)
    propagations_record(change=change, webhooks=webhooks, partners=partners)
    return notices + webhooks


def _enforcement_data(change: EnforcementChange, account: Account) -> dict[str, Any]:
    """An enforcement webhook's ``data`` (notices.md), with where the partner reports."""
    decision = change.decision
    return {
        "account": account.external_id,
        "status": change.status,
        "previous_status": change.previous_status,
        "since": iso_or_none(account.enforcement_since),
        "until": iso_or_none(change.until),
        "case": change.case_id,
        "policies": change.policies,
        "restrictions": change.restrictions,
        "decision": decision.reference if decision is not None else None,
        "change": change.seq,
        **partner_urls(change.seq),
    }


def notices_record_for_new_channels(
    *, account: Account, partner_ids: Iterable[int]
) -> list[Notice]:
    """Partners that just gained a channel to ``account`` hear of its current enforcement at
    once, if it is restricted, suspended or terminated (partners.md): a webhook of the current
    status, tied to the account's latest change, with a propagation record of its own. In the
    caller's transaction, dispatched after commit. A partner already following that change
    (its channel was removed and given back) is not told again."""
    partner_ids = sorted(set(partner_ids))
    if not partner_ids or account.enforcement_status == EnforcementStatus.ACTIVE:
        return []
    change = (
        EnforcementChange.objects.filter(account=account)
        .select_related("decision", "case")
        .order_by("-seq")
        .first()
    )
    if change is None or change.status != account.enforcement_status:
        return []
    following = set(
        Propagation.objects.filter(change=change, partner_id__in=partner_ids).values_list(
            "partner_id", flat=True
        )
    )
    new = [pk for pk in partner_ids if pk not in following]
    if not new:
        return []
    data = {**_enforcement_data(change, account), "trigger": PropagationTrigger.CHANNEL_ADDED}
    webhooks = _webhooks(
        change.case, account, ENFORCEMENT_EVENTS[change.status], data, timezone.now(), new
    )
    propagations_record(
        change=change,
        webhooks=webhooks,
        partners=Partner.objects.filter(pk__in=new),
        trigger=PropagationTrigger.CHANNEL_ADDED,
    )
    logger.info(
        "account %s: %d partner(s) with a new channel told of its %s status",
        account.external_id,
        len(new),
        change.status,
    )
    return notices_save(webhooks)


def notices_save(notices: list[Notice]) -> list[Notice]:
    """Render and store outbox rows in the caller's transaction; dispatch them after commit.

    Every producer of notices (case changes, the deadline sweep, digests) goes through here.
    An e-mail notice without a body is rendered from the templates of its channel and event
    (see ``notifications.rendering``), with its ``payload`` as the context.
    """
    if not notices:
        return []
    now = timezone.now()
    for notice in notices:
        notice.created_at = now
        notice.next_attempt_at = now
        notice_render(notice)
    Notice.objects.bulk_create(notices)
    notices_dispatch_on_commit([n.pk for n in notices])
    return notices


def notices_dispatch_on_commit(ids: list[Any]) -> None:
    """Queue the notices once the surrounding transaction has committed."""
    if not ids:
        return

    def _enqueue() -> None:
        from .tasks import notices_enqueue

        notices_enqueue(ids)

    transaction.on_commit(_enqueue)


# --- redelivery -----------------------------------------------------------------------------


def notice_redeliver(*, notice_id: Any, actor: Actor) -> Notice:
    """Send a delivered or failed notice again (investigators and leads).

    The notice keeps its id, so a webhook is resent with the same ``webhook-id`` and receivers
    that already have it drop it; its attempts start again from the first of the schedule.
    """
    if not actor.is_system and not role_allows(actor.role, REDELIVER_MIN_ROLE):
        raise Forbidden(detail=f"Role '{actor.role or 'none'}' may not redeliver notices.")
    with transaction.atomic():
        try:
            notice = Notice.objects.select_for_update().get(pk=notice_id)
        except (Notice.DoesNotExist, ValueError, TypeError):
            raise NoticeNotFound(detail=f"Notice {notice_id} does not exist.") from None
        if notice.status not in (NoticeStatus.DELIVERED, NoticeStatus.FAILED):
            raise RedeliveryNotAllowed(status=notice.status)
        _send_again([notice.pk], actor=actor)
        logger.info("notice %s redelivery requested by %s", notice.pk, actor.label)
    notice.refresh_from_db()
    return notice


# --- webhook endpoints ----------------------------------------------------------------------


def _require_endpoint_role(actor: Actor) -> None:
    if not actor.is_system and not role_allows(actor.role, ENDPOINT_MIN_ROLE):
        raise Forbidden(detail=f"Role '{actor.role or 'none'}' may not manage webhook endpoints.")


@dataclass(frozen=True)
class EndpointInput:
    """What an endpoint is made of, checked: the one place that validates it."""

    url: str
    event_types: list[str]
    partner: Partner | None
    description: str


def endpoint_input_clean(
    *,
    url: str,
    event_types: list[str],
    partner: Partner | str | None = None,
    description: str = "",
) -> EndpointInput:
    """Check an endpoint's URL (SSRF included), event types and partner; raise ``InvalidInput``
    (``WebhookUrlRefused`` for the URL) naming the field."""
    url = (url or "").strip()
    if len(url) > 500:
        raise InvalidInput(detail="The URL is longer than 500 characters.", field="url")
    webhook_url_check(url)
    events = list(dict.fromkeys(event_types or []))
    if not events:
        raise InvalidInput(detail="Subscribe to at least one event type.", field="event_types")
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown:
        raise InvalidInput(
            detail=f"Unknown event type(s): {', '.join(unknown)}; known: "
            + ", ".join(WebhookEvent.values)
            + ".",
            field="event_types",
        )
    if isinstance(partner, str):
        found = Partner.objects.filter(code=partner).first()
        if found is None:
            raise InvalidInput(detail=f"Unknown partner '{partner}'.", field="partner")
        partner = found
    return EndpointInput(
        url=url, event_types=events, partner=partner, description=(description or "")[:200]
    )


def endpoint_create(
    *,
    url: str,
    event_types: list[str],
    actor: Actor,
    partner: Partner | str | None = None,
    description: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its ``whsec_`` secret, which is shown only now."""
    _require_endpoint_role(actor)
    data = endpoint_input_clean(
        url=url, event_types=event_types, partner=partner, description=description
    )
    secret = secret_generate()
    endpoint = WebhookEndpoint.objects.create(
        partner=data.partner,
        url=data.url,
        description=data.description,
        event_types=data.event_types,
        secret=secret_encrypt(secret),
        active=True,
    )
    logger.info("webhook endpoint %s created by %s for %s", endpoint.pk, actor.label, data.url)
    return endpoint, secret


def endpoint_update(
    *,
    endpoint_id: Any,
    actor: Actor,
    url: str,
    event_types: list[str],
    partner: Partner | str | None,
    description: str,
    active: bool,
) -> WebhookEndpoint:
    """Change an endpoint's URL, events, partner, description or whether it is active; the
    secret stays as it is. The URL is checked again, as on creation."""
    _require_endpoint_role(actor)
    data = endpoint_input_clean(
        url=url, event_types=event_types, partner=partner, description=description
    )
    with transaction.atomic():
        try:
            endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        except (WebhookEndpoint.DoesNotExist, ValueError, TypeError):
            raise EndpointNotFound(
                detail=f"Webhook endpoint {endpoint_id} does not exist."
            ) from None
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            url=data.url,
            event_types=data.event_types,
            partner=data.partner,
            description=data.description,
            updated_at=timezone.now(),
        )
        logger.info("webhook endpoint %s changed by %s", endpoint.pk, actor.label)
        # Switching it on or off has consequences of its own (a disabled endpoint's stopped
        # notices resume when it is enabled again): one path for each.
        if active and not endpoint.active:
            endpoint_enable(endpoint_id=endpoint.pk, actor=actor)
        elif not active and endpoint.active:
            endpoint_disable(endpoint_id=endpoint.pk, actor=actor)
    endpoint.refresh_from_db()
    return endpoint


def endpoint_gone(*, endpoint_id: int, at: datetime, detail: str) -> int:
    """The endpoint's receiver answered 410 Gone (Standard Webhooks: do not send again).

    In the caller's transaction: the endpoint is disabled at once, with the reason and time;
    its notices still on their way (pending or retrying) are marked ``stopped``, kept with
    their history; every lead gets an ``endpoint.disabled`` staff e-mail. Returns the number of
    the endpoint's stopped notices, or 0 if it was already disabled (the leads heard then).
    """
    endpoint = (
        WebhookEndpoint.objects.select_for_update(of=("self",))
        .select_related("partner")
        .filter(pk=endpoint_id, active=True)
        .first()
    )
    if endpoint is None:
        return 0
    reason = f"the receiver answered {detail} on {iso(at)}"
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        active=False, disabled_at=at, disabled_reason=reason[:300], updated_at=at
    )
    Notice.objects.filter(
        endpoint=endpoint, status__in=(NoticeStatus.PENDING, NoticeStatus.RETRYING)
    ).update(status=NoticeStatus.STOPPED, last_error=f"endpoint gone: {reason}", queued_at=None)
    stopped = Notice.objects.filter(endpoint=endpoint, status=NoticeStatus.STOPPED).count()
    # The partner will not hear of these changes by webhook: staff see them undeliverable.
    undeliverable = propagations_undeliverable(
        ids=Notice.objects.filter(
            endpoint=endpoint, status=NoticeStatus.STOPPED, propagation__isnull=False
        ).values_list("propagation_id", flat=True),
        reason=f"the endpoint {endpoint.url} answered {detail}",
    )
    payload = {
        "endpoint": endpoint.pk,
        "url": endpoint.url,
        "partner": endpoint.partner.code if endpoint.partner else None,
        "reason": reason,
        "at": iso(at),
        "stopped": stopped,
        "undeliverable": undeliverable,
        "admin_path": f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/",
    }
    notices_save(
        [
            Notice(
                channel=Channel.STAFF,
                event="endpoint.disabled",
                recipient=user.email,
                payload={**payload, "staff_name": user.get_full_name() or user.get_username()},
            )
            for user in leads()
            if user.email
        ]
    )
    logger.warning(
        "webhook endpoint %s disabled: %s; %d notice(s) stopped", endpoint.pk, reason, stopped
    )
    return stopped


def _send_again(notice_ids: list[Any], *, actor: Actor) -> None:
    """The notices go out again as they were (same id, so the same ``webhook-id``), their
    attempts counted from the first of the schedule; recorded as a redelivery by ``actor``."""
    now = timezone.now()
    Notice.objects.filter(pk__in=notice_ids).update(
        status=NoticeStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        queued_at=None,
        locked_until=None,
        lease=None,
        last_error="",
        redelivered_at=now,
        redelivered_by=actor.label,
    )
    notices_dispatch_on_commit(notice_ids)


def endpoint_enable(*, endpoint_id: Any, actor: Actor) -> tuple[WebhookEndpoint, int]:
    """Send to a disabled endpoint again (leads); returns it and how many notices were resumed.

    The notices stopped when it answered 410 Gone go out again, oldest first, as a redelivery
    does: same id (so the same ``webhook-id``), attempts from the first of the schedule. Notices
    that had failed before stay as they are (each can be redelivered).
    """
    _require_endpoint_role(actor)
    with transaction.atomic():
        try:
            endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        except (WebhookEndpoint.DoesNotExist, ValueError, TypeError):
            raise EndpointNotFound(
                detail=f"Webhook endpoint {endpoint_id} does not exist."
            ) from None
        if endpoint.active:
            return endpoint, 0
        now = timezone.now()
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            active=True, disabled_at=None, disabled_reason="", updated_at=now
        )
        resumed = list(
            Notice.objects.filter(endpoint=endpoint, status=NoticeStatus.STOPPED)
            .order_by("created_at", "id")
            .values_list("pk", flat=True)
        )
        _send_again(resumed, actor=actor)
        propagations_resumed(
            ids=Notice.objects.filter(pk__in=resumed, propagation__isnull=False).values_list(
                "propagation_id", flat=True
            )
        )
        logger.info(
            "webhook endpoint %s enabled by %s; %d stopped notice(s) resumed",
            endpoint.pk,
            actor.label,
            len(resumed),
        )
    endpoint.refresh_from_db()
    return endpoint, len(resumed)


def endpoint_disable(*, endpoint_id: Any, actor: Actor) -> WebhookEndpoint:
    """Stop sending to an endpoint. Notices already recorded for it end ``failed``."""
    _require_endpoint_role(actor)
    try:
        endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    except (WebhookEndpoint.DoesNotExist, ValueError, TypeError):
        raise EndpointNotFound(detail=f"Webhook endpoint {endpoint_id} does not exist.") from None
    if endpoint.active:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            active=False, updated_at=timezone.now()
        )
        logger.info("webhook endpoint %s disabled by %s", endpoint.pk, actor.label)
        endpoint.refresh_from_db()
    return endpoint
