"""The statement of reasons of a suspension or termination (notices.md, EU DSA Art. 17).

Built once, when the decision is taken, from the case, its timeline event and the policy
versions that event cites, and stored with each notice: later edits of the case or of the
policy never change what was sent. ``dsa`` repeats the fields under the DSA Transparency
Database's names and values, so that an export maps 1:1.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings

from cases.models import Case, CaseEvent, EnforcementChange, PolicyVersion, Signal
from config.times import iso_or_none

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


def _facts(case: Case, event: CaseEvent, terminated: bool) -> str:
    lines = [f"Decision: {event.reason}".strip(), f"Case summary: {case.summary}".strip()]
    if terminated and case.findings:
        lines.append(f"Findings of the investigation: {case.findings}")
    for incident in case.incidents.order_by("first_seen"):
        if incident.kind == "report" and not incident.signal_count:
            lines.append(f"- A report received {incident.first_seen:%Y-%m-%d %H:%M} UTC")
            continue
        lines.append(
            f"- {incident.kind} ({incident.severity}), {incident.signal_count} signal(s) "
            f"from {incident.first_seen:%Y-%m-%d %H:%M} to {incident.last_seen:%Y-%m-%d %H:%M} UTC"
            + (f": {incident.summary}" if incident.summary else "")
        )
    text = "\n".join(lines)
    if len(text) > FACTS_MAX:
        text = text[: FACTS_MAX - 1] + "…"
    return text


def _automated_decision(actor_kind: str) -> tuple[str, str]:
    """(our value, the DSA value): staff decide by hand; the system alone decides fully
    automatically; an API client relays a decision another system (and maybe a person) took."""
    return {
        "system": ("fully", "AUTOMATED_DECISION_FULLY"),
        "api_client": ("partially", "AUTOMATED_DECISION_PARTIALLY"),
    }.get(actor_kind, ("not_automated", "AUTOMATED_DECISION_NOT_AUTOMATED"))


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
    automated_detection = Signal.objects.filter(incidents__case=case, automated=True).exists()
    decided_how, dsa_decided_how = _automated_decision(event.actor_kind)
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
