"""The whole record of a case as one JSON document that can be verified on its own."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from config.times import iso, iso_or_none

from .audit import HASHED_FIELDS, LATER_HASH_FIELDS
from .audit_verify import chain_check, state_check
from .models import (
    Case,
    CaseEvent,
    CaseNote,
    EnforcementChange,
    EvidenceReference,
    PolicyVersion,
    Signal,
)

FORMAT = "tscase.case-export/2"


def case_export(*, case_id: int) -> dict[str, Any]:
    case = Case.objects.select_related("account", "assignee").get(pk=case_id)
    account = case.account
    events = list(CaseEvent.objects.filter(case=case).order_by("seq"))
    cited = {(c["code"], c["version"]) for e in events for c in (e.policy_versions or [])}
    versions = [
        v
        for v in PolicyVersion.objects.select_related("policy").filter(
            policy__code__in={code for code, _ in cited}
        )
        if (v.policy.code, v.version) in cited
    ]
    signals = Signal.objects.filter(incidents__case=case).distinct().order_by("occurred_at")
    timeline = [
        {
            "id": e.pk,
            "seq": e.seq,
            # The hash's own text of the time (cases.audit), so the chain can be re-computed.
            "at": e.at.isoformat(timespec="microseconds"),
            "actor_kind": e.actor_kind,
            "acted_by": e.acted_by,
            "actor_label": e.actor_label,
            "actor_user_id": e.actor_user_id,
            "actor_client_id": e.actor_client_id,
            "action": e.action,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "reason": e.reason,
            "policy_versions": e.policy_versions,
            "data": e.data,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
            "hash_version": e.hash_version,
        }
        for e in events
    ]
    chain_rows = [
        {**row, "case_id": case.pk, "at": e.at} for row, e in zip(timeline, events, strict=True)
    ]
    problems = [str(p) for p in chain_check(chain_rows)]
    problems += [str(p) for p in state_check(case.pk, case.state, chain_rows)]
    from notifications.models import Notice, Propagation

    notices = [
        {
            "id": str(n.id),
            "channel": n.channel,
            "event": n.event,
            "recipient": n.recipient,
            "subject": n.subject,
            "body_text": n.body_text,
            "payload": n.payload,
            "statement": n.statement,
            "status": n.status,
            "created_at": iso_or_none(n.created_at),
            "delivered_at": iso_or_none(n.delivered_at),
            "deliveries": [
                {
                    "at": iso_or_none(a.at),
                    "succeeded": a.succeeded,
                    "status_code": a.status_code,
                    "latency_ms": a.latency_ms,
                    "error": a.error,
                }
                for a in n.attempts_log.all()
            ],
        }
        for n in Notice.objects.filter(case=case)
        .prefetch_related("attempts_log")
        .order_by("created_at")
    ]
    return {
        "format": FORMAT,
        "exported_at": iso(timezone.now()),
        "case": {
            "id": case.pk,
            "state": case.state,
            "priority": case.priority,
            "summary": case.summary,
            "findings": case.findings,
            "violation_confirmed": case.violation_confirmed,
            "assignee": case.assignee.get_username() if case.assignee else None,
            "review_deadline": iso_or_none(case.review_deadline),
            "created_at": iso_or_none(case.created_at),
            "closed_at": iso_or_none(case.closed_at),
        },
        "account": {
            "external_id": account.external_id,
            "name": account.name,
            "tier": account.tier,
            "channels": account.channel_codes,
            "enforcement_status": account.enforcement_status,
            "enforcement_since": iso_or_none(account.enforcement_since),
        },
        "signals": [
            {
                "id": s.pk,
                "kind": s.kind,
                "severity": s.severity,
                "occurred_at": iso_or_none(s.occurred_at),
                "source": s.source,
                "dedupe_key": s.dedupe_key,
                "automated": s.automated,
                "summary": s.summary,
                "evidence": s.evidence,
            }
            for s in signals
        ],
        "policy_versions": [
            {"code": v.policy.code, "version": v.version, "title": v.title, "text": v.text}
            for v in sorted(versions, key=lambda v: (v.policy.code, v.version))
        ],
        "timeline": timeline,
        # Every version, oldest first: a correction is a row whose ``corrects`` names the row it
        # replaces; the current version of each is the one no row corrects.
        "notes": [
            {
                "id": n.pk,
                "author": n.author,
                "body": n.body,
                "created_at": iso(n.created_at),
                "corrects": n.corrects_id,
            }
            for n in CaseNote.objects.filter(case=case).order_by("created_at", "id")
        ],
        "evidence": [
            {
                "id": e.pk,
                "reference": e.reference,
                "description": e.description,
                "added_by": e.added_by,
                "created_at": iso(e.created_at),
                "corrects": e.corrects_id,
            }
            for e in EvidenceReference.objects.filter(case=case).order_by("created_at", "id")
        ],
        "enforcement_changes": [
            {
                "seq": c.seq,
                "status": c.status,
                "previous_status": c.previous_status,
                "at": iso_or_none(c.at),
                "policies": c.policies,
            }
            for c in EnforcementChange.objects.filter(case=case).order_by("seq")
        ],
        "notices": notices,
        # How each partner of the account followed the case's enforcement changes.
        "propagations": [
            {
                "change": p.change.seq,
                "partner": p.partner.code,
                "trigger": p.trigger,
                "state": p.state,
                "created_at": iso(p.created_at),
                "delivered_at": iso_or_none(p.delivered_at),
                "acknowledged_at": iso_or_none(p.acknowledged_at),
                "reported_at": iso_or_none(p.reported_at),
                "partner_reference": p.partner_reference,
                "note": p.note,
                "undeliverable_reason": p.undeliverable_reason,
            }
            for p in Propagation.objects.filter(case=case)
            .select_related("change", "partner")
            .order_by("seq")
        ],
        "integrity": {
            "algorithm": "sha256(prev_hash + '\\n' + canonical JSON of the fields that the "
            "event's hash_version covers, listed below; absent: version 1); canonical JSON: keys "
            "sorted, separators ',' ':', times ISO 8601 with microseconds",
            "hashed_fields": {str(v): list(fields) for v, fields in HASHED_FIELDS.items()},
            "hashed_when_set": {"1": list(LATER_HASH_FIELDS)},
            "head_hash": timeline[-1]["hash"] if timeline else "",
            "chain_ok": not problems,
            "problems": problems,
        },
    }
