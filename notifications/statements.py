"""The statement of reasons of a suspension or termination (notices.md, EU DSA Art. 17).

Built once, when the decision is taken, from the case, its timeline event and the policy
versions that event cites, and stored with each notice: later edits of the case or of the
policy never change what was sent. ``dsa`` repeats the fields under the DSA Transparency
Database's names and values, so that an export maps 1:1.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min

from cases.choices import EventAction, signal_kind_wording
from cases.models import Case, CaseEvent, EnforcementChange, PolicyVersion, Signal
from config.times import iso_or_none
from core.actors import ActedBy, ActorKind

FACTS_MAX = 5000
ALL_ACCESS = "all API access"
# The restriction applies wherever the API is used: the whole EEA, as the DSA export wants it.
EEA = (
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IS IT LI LT LU LV MT NL NO PL PT RO SE SI SK"
).split()
DEFAULT_APPEAL_DAYS = 183  # at least six months (DSA Art. 20)


def statement_reference_new() -> str:
    """A fresh, never reused reference (the DSA ``puid``)."""
    return f"sor_{uuid.uuid4().hex}"


def _policies(citations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    wanted = {(c["code"], int(c["version"])) for c in citations}
    versions = {
        (v.policy.code, v.version): v
        for v in PolicyVersion.objects.select_related("policy").filter(
            policy__code__in=[code for code, _ in wanted]
        )
        if (v.policy.code, v.version) in wanted
    }
    result = []
    for code, version in sorted(wanted):
        found = versions.get((code, version))
        result.append(
            {
                "code": code,
                "version": version,
                "title": found.title if found else code,
                "text": found.text if found else "",
            }
        )
    return result


def _when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def _observed(case: Case, at: datetime) -> list[str]:
    """What was observed, per signal kind, as the case stood at ``at``: how many signals, over
    what period, in the customer's words (``SignalKind``). Each signal counts once, however many
    incidents hold it; rule names, thresholds and incident summaries stay internal."""
    rows = (
        Signal.objects.filter(incidents__case=case, received_at__lte=at)
        .values("kind")
        .annotate(n=Count("id", distinct=True), first=Min("occurred_at"), last=Max("occurred_at"))
        .order_by("first", "kind")
    )
    lines = []
    for row in rows:
        count, first, last = row["n"], row["first"], row["last"]
        what = signal_kind_wording(row["kind"])
        if count == 1:
            lines.append(f"- {what}: 1 occurrence, at {_when(first)}")
        else:
            lines.append(f"- {what}: {count} occurrences from {_when(first)} to {_when(last)}")
    reports = case.incidents.filter(kind="report", signal_count=0, first_seen__lte=at)
    for first_seen in reports.order_by("first_seen").values_list("first_seen", flat=True):
        lines.append(f"- A report received {_when(first_seen)}")
    return lines


def _facts(case: Case, event: CaseEvent, terminated: bool) -> str:
    """The facts and circumstances for the customer: the decision's reason as the person or
    system deciding wrote it, the investigation's findings (termination) and what was observed.
    The case summary is left out: it is written for staff (or by a flag rule)."""
    lines = [f"Decision: {event.reason}".strip()]
    if terminated and case.findings:
        lines.append(f"Findings of the investigation: {case.findings}")
    observed = _observed(case, event.at)
    if observed:
        lines += ["What we observed:", *observed]
    text = "\n".join(lines)
    if len(text) > FACTS_MAX:
        text = text[: FACTS_MAX - 1] + "…"
    return text


# How the decision was taken (DSA Transparency Database semantics): a person deciding, in the
# admin or through a staff tool that names them, is not automated; an automation deciding alone
# (an API client that names no person, or the system) is fully automated. "Partially" (a person
# confirming what automated means proposed) is not produced: no actor of this service proposes.
AUTOMATED_DECISION = {
    ActedBy.PERSON: ("not_automated", "AUTOMATED_DECISION_NOT_AUTOMATED"),
    ActedBy.PERSON_VIA_TOOL: ("not_automated", "AUTOMATED_DECISION_NOT_AUTOMATED"),
    ActedBy.AUTOMATION: ("fully", "AUTOMATED_DECISION_FULLY"),
}


def acted_by(event: CaseEvent) -> str:
    """Who took ``event``: as recorded, or, for an event written before that was recorded, what
    its credential tells (only a staff session is surely a person)."""
    if event.acted_by:
        return event.acted_by
    return ActedBy.PERSON if event.actor_kind == ActorKind.STAFF else ActedBy.AUTOMATION


def _automated_detection(case: Case, at: datetime) -> bool:
    """Whether automated means detected what the case rests on: a signal from an automated
    source, or a report that an automation filed (opened the case by hand)."""
    if Signal.objects.filter(incidents__case=case, automated=True, received_at__lte=at).exists():
        return True
    if not case.incidents.filter(kind="report", signal_count=0).exists():
        return False
    opened = CaseEvent.objects.filter(case=case, action=EventAction.OPEN).first()
    return opened is not None and acted_by(opened) == ActedBy.AUTOMATION


def statement_build(
    *, case: Case, event: CaseEvent, change: EnforcementChange, reference: str
) -> dict[str, Any]:
    """The statement of reasons for the suspension or termination ``change`` records."""
    terminated = change.status == "terminated"
    scope_text = ALL_ACCESS
    if not terminated:
        suspend_event = event if event.action == "suspend" else None
        if suspend_event is not None and isinstance(suspend_event.data.get("scope"), str):
            scope_text = suspend_event.data["scope"] or ALL_ACCESS
    in_full = scope_text == ALL_ACCESS
    policies = _policies(list(event.policy_versions or []))
    automated_detection = _automated_detection(case, event.at)
    decided_how, dsa_decided_how = AUTOMATED_DECISION[ActedBy(acted_by(event))]
    start = change.at
    end = None if terminated else case.review_deadline
    appeal_days = int(getattr(settings, "APPEAL_WINDOW_DAYS", DEFAULT_APPEAL_DAYS))
    appeal_by = start + timedelta(days=appeal_days)
    facts = _facts(case, event, terminated)
    ground_text = "Breach of the terms of service: " + (
        "; ".join(f"{p['code']} (version {p['version']})" for p in policies) or "see the facts"
    )
    explanation = "\n\n".join(
        f"{p['title']} ({p['code']}, version {p['version']}):\n{p['text']}" for p in policies
    )
    restriction = "terminated" if terminated else "suspended"
    if terminated:
        provision = "DECISION_PROVISION_TOTAL_TERMINATION"
    elif in_full:
        provision = "DECISION_PROVISION_TOTAL_SUSPENSION"
    else:
        provision = "DECISION_PROVISION_PARTIAL_SUSPENSION"
    appeals = settings.APPEALS_EMAIL
    return {
        "reference": reference,
        "decision": {
            "account": f"account_{restriction}",
            "provision": f"API access {restriction} " + ("in full" if in_full else "in part"),
            "text": (
                f"Your account's API access is {restriction}"
                + ("" if in_full else f" for: {scope_text}")
                + "."
            ),
        },
        "ground": {
            "decision_ground": "breach_of_terms_of_service",
            "text": ground_text,
            "policies": policies,
        },
        "facts": facts,
        "automated_detection": automated_detection,
        "automated_decision": decided_how,
        "start": iso_or_none(start),
        "end": iso_or_none(end),
        "scope": {"restricted": scope_text, "territorial": "global"},
        "account_type": "business",
        "redress": {
            "contact": appeals,
            "by": iso_or_none(appeal_by),
            "text": (
                f"You may contest this decision by writing to {appeals} by "
                f"{appeal_by:%Y-%m-%d}, quoting the reference {reference}. Say why you think "
                "the decision is wrong and add anything that supports it. You do not need a "
                "lawyer to appeal, and an appeal costs nothing."
            ),
        },
        "dsa": {
            "puid": reference,
            "decision_account": (
                "DECISION_ACCOUNT_TERMINATED" if terminated else "DECISION_ACCOUNT_SUSPENDED"
            ),
            "decision_provision": provision,
            "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
            "incompatible_content_ground": ground_text,
            "incompatible_content_explanation": explanation,
            "decision_facts": facts,
            "automated_detection": "Yes" if automated_detection else "No",
            "automated_decision": dsa_decided_how,
            "application_date": f"{start:%Y-%m-%d}",
            "end_date_account_restriction": f"{end:%Y-%m-%d}" if end else None,
            "territorial_scope": EEA,
            "account_type": "ACCOUNT_TYPE_BUSINESS",
        },
    }
