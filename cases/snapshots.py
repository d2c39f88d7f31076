"""The snapshot of a decision: what it rested on, frozen as one canonical JSON document.

When a case is suspended or terminated, the signals, incidents, account record and statement of
reasons behind the decision are written into one document (``snapshot_document``), stored as an
evidence item (``cases.services.snapshots``) with its SHA-256. Later edits of the account, new
signals or a re-opened case change the database, never the document. Read-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from accounts.models import Account
from config.times import iso, iso_or_none

from .custody import canonical_json
from .models import Case, CaseEvent, Decision, Incident, Signal

FORMAT = "tscase.snapshot/1"
MEDIA_TYPE = "application/json"


def _account(account: Account) -> dict[str, Any]:
    return {
        "external_id": account.external_id,
        "name": account.name,
        "tier": account.tier,
        "contacts": list(account.contacts or []),
        "channels": account.channel_codes,
        "enforcement_status": account.enforcement_status,
        "enforcement_since": iso_or_none(account.enforcement_since),
        "enforcement_until": iso_or_none(account.enforcement_until),
        "enforcement_restrictions": account.enforcement_restrictions,
    }


def _incident(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "kind": incident.kind,
        "severity": incident.severity,
        "policy": incident.policy.code if incident.policy is not None else None,
        "summary": incident.summary,
        "reported_by": incident.reported_by,
        "first_seen": iso(incident.first_seen),
        "last_seen": iso(incident.last_seen),
        "signal_count": incident.signal_count,
        "signals": sorted(s.pk for s in incident.signals.all()),
    }


def _signal(signal: Signal) -> dict[str, Any]:
    return {
        "id": signal.pk,
        "kind": signal.kind,
        "severity": signal.severity,
        "occurred_at": iso(signal.occurred_at),
        "received_at": iso(signal.received_at),
        "source": signal.source,
        "policy": signal.policy.code if signal.policy is not None else None,
        "dedupe_key": signal.dedupe_key,
        "automated": signal.automated,
        "summary": signal.summary,
        "evidence": signal.evidence,
    }


def snapshot_document(*, case: Case, event: CaseEvent, at: datetime) -> dict[str, Any]:
    """What the decision recorded by ``event`` rested on, as it stands at ``at``."""
    account = Account.objects.prefetch_related("partners").get(pk=case.account_id)
    incidents = list(
        Incident.objects.filter(case=case)
        .select_related("policy")
        .prefetch_related("signals")
        .order_by("first_seen", "id")
    )
    signals = (
        Signal.objects.filter(incidents__case=case)
        .select_related("policy")
        .distinct()
        .order_by("occurred_at", "id")
    )
    decisions = Decision.objects.filter(event=event).order_by("decided_at", "id")
    return {
        "format": FORMAT,
        "frozen_at": iso(at),
        "case": {
            "id": case.pk,
            "state": case.state,
            "priority": case.priority,
            "summary": case.summary,
            "findings": case.findings,
            "violation_confirmed": case.violation_confirmed,
            "policies": sorted(p.code for p in case.policies.all()),
        },
        "event": {
            "id": event.pk,
            "seq": event.seq,
            "action": event.action,
            "at": iso(event.at),
            "actor_label": event.actor_label,
            "reason": event.reason,
            "policy_versions": event.policy_versions,
            "hash": event.hash,
        },
        "account": _account(account),
        "incidents": [_incident(i) for i in incidents],
        "signals": [_signal(s) for s in signals],
        "decisions": [
            {
                "reference": d.reference,
                "kind": d.kind,
                "decided_at": iso(d.decided_at),
                "statement": d.statement,
            }
            for d in decisions
        ],
    }


def snapshot_bytes(document: dict[str, Any]) -> bytes:
    return canonical_json(document)
