"""The statement of reasons of a decision (notices.md, decisions.md, EU DSA Art. 17).

Built once, when the decision is taken, from the case, the decision's reason, the restrictions it
imposes or lifts and the policy versions it cites, and stored on the decision itself, whatever
the account's contacts: later edits of the case or of the policy never change it, and every
notice of the decision carries it. ``dsa`` repeats the fields of a restrictive decision under
the DSA Transparency Database's names and values, so that an export maps 1:1.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Max, Min

from config.times import iso_or_none
from core.actors import ActedBy, ActorKind

from .choices import (
    DecisionKind,
    EventAction,
    RestrictionKind,
    signal_kind_wording,
)
from .models import Case, CaseEvent, PolicyVersion, Signal

FACTS_MAX = 5000
ALL_ACCESS = "all API access"
# A terms breach that limits what the service is for (the Transparency Database's category).
DSA_CATEGORY = "STATEMENT_CATEGORY_SCOPE_OF_PLATFORM_SERVICE"
# What is restricted is the use of the API, which the database's content types do not name.
DSA_CONTENT_TYPE_OTHER = "API requests and model outputs"
# The provider finds breaches itself (detection pipelines, staff): an own-initiative decision.
DSA_SOURCE_TYPE = "SOURCE_VOLUNTARY"
# Decisions the account cannot contest (decisions.md, Appeals).
NOT_APPEALABLE = (DecisionKind.WARN, DecisionKind.RESTRICTION_EXPIRED)
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


def _facts(case: Case, reason: str, at: datetime, *, findings: bool, extra: list[str]) -> str:
    """The facts and circumstances for the customer: the decision's reason as the person or
    system deciding wrote it, the investigation's findings (a termination after a confirmed
    violation) and what was observed. The case summary is left out: it is written for staff (or
    by a flag rule)."""
    lines = [f"Decision: {reason}".strip()] if reason else []
    if findings and case.findings:
        lines.append(f"Findings of the investigation: {case.findings}")
    lines += extra
    observed = _observed(case, at)
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


def _when_day(value: str | None) -> str:
    return value[:10] if value else ""


def _names(values: list[str]) -> str:
    return ", ".join(values)


def restriction_wording(view: dict[str, Any]) -> tuple[str, str]:
    """``(what is restricted, the sentence for the customer)`` of one restriction view."""
    kind = view["kind"]
    until = f" until {_when_day(view['ends_at'])}" if view.get("ends_at") else ""
    if kind == RestrictionKind.TERMINATION:
        return ALL_ACCESS, "Your account's API access is terminated."
    if kind == RestrictionKind.SUSPENSION:
        return ALL_ACCESS, f"Your account's API access is suspended{until}."
    if kind == RestrictionKind.MODEL_BLOCK:
        names = _names(view["models"])
        return f"the models {names}", f"Your account may not use the models {names}{until}."
    if kind == RestrictionKind.FEATURE_BLOCK:
        names = _names(view["features"])
        return f"the features {names}", f"Your account may not use the features {names}{until}."
    limit = f"{view['requests_per_minute']} requests per minute"
    if view.get("tokens_per_minute"):
        limit += f" and {view['tokens_per_minute']} tokens per minute"
    return f"requests above {limit}", f"Your account's API use is limited to {limit}{until}."


def _restriction_terms(views: list[dict[str, Any]]) -> dict[str, Any]:
    """The decision part of a statement: what the restrictions restrict, in both vocabularies."""
    kinds = {v["kind"] for v in views}
    if RestrictionKind.TERMINATION in kinds:
        account, provision, dsa_account, dsa_provision = (
            "account_terminated",
            "API access terminated in full",
            "DECISION_ACCOUNT_TERMINATED",
            "DECISION_PROVISION_TOTAL_TERMINATION",
        )
    elif RestrictionKind.SUSPENSION in kinds:
        account, provision, dsa_account, dsa_provision = (
            "account_suspended",
            "API access suspended in full",
            "DECISION_ACCOUNT_SUSPENDED",
            "DECISION_PROVISION_TOTAL_SUSPENSION",
        )
    else:
        # A rate limit, a model or a feature block suspends part of the service; the account
        # itself stays open (the database's decision_account does not apply).
        account, provision, dsa_account, dsa_provision = (
            "account_restricted",
            "API access suspended in part",
            None,
            "DECISION_PROVISION_PARTIAL_SUSPENSION",
        )
    worded = [restriction_wording(v) for v in views]
    return {
        "account": account,
        "provision": provision,
        "text": " ".join(sentence for _, sentence in worded),
        "restricted": "; ".join(what for what, _ in worded),
        "dsa_account": dsa_account,
        "dsa_provision": dsa_provision,
        "account_level": dsa_account is not None,
    }


def _content_date(case: Case, at: datetime) -> str:
    """When what the decision is about began: the first signal behind the case, or its opening."""
    first = (
        Signal.objects.filter(incidents__case=case, received_at__lte=at)
        .aggregate(first=Min("occurred_at"))
        .get("first")
    )
    return f"{(first or case.created_at):%Y-%m-%d}"


LIFTED_TEXT = {
    DecisionKind.REINSTATE: "The restrictions on your account are lifted.",
    DecisionKind.RESTRICTION_EXPIRED: "A restriction on your account has ended on its end date.",
    DecisionKind.APPEAL_OVERTURNED: "Your appeal succeeded: the restrictions are lifted.",
    DecisionKind.APPEAL_UPHELD: (
        "Your appeal did not succeed: the decision you appealed stands, and its restrictions "
        "stay as they were."
    ),
}


def statement_build(
    *,
    kind: str,
    case: Case,
    reason: str,
    at: datetime,
    acted_by: str,
    policy_versions: list[dict[str, Any]],
    imposed: list[dict[str, Any]],
    lifted: list[dict[str, Any]],
    reference: str,
    findings: bool = False,
    warning: str = "",
) -> dict[str, Any]:
    """The statement of reasons of one decision: what it imposes (``imposed``, restriction views
    with ``reference``), what it lifts, why, on which policy versions, and how to contest it.

    ``findings`` puts the investigation's findings in the facts (a termination after a
    confirmed violation; never after a lead overrode a finding of no violation).
    """
    policies = _policies(list(policy_versions))
    automated_detection = _automated_detection(case, at)
    decided_how, dsa_decided_how = AUTOMATED_DECISION[ActedBy(acted_by)]
    extra = []
    if lifted:
        extra.append("Lifted: " + "; ".join(restriction_wording(v)[0] for v in lifted) + ".")
    if warning:
        extra.append(f"Warning: {warning}")
    facts = _facts(case, reason, at, findings=findings, extra=extra)
    ground_text = "Breach of the terms of service: " + (
        "; ".join(f"{p['code']} (version {p['version']})" for p in policies) or "see the facts"
    )
    explanation = "\n\n".join(
        f"{p['title']} ({p['code']}, version {p['version']}):\n{p['text']}" for p in policies
    )
    if imposed:
        terms = _restriction_terms(imposed)
        ends = [v["ends_at"] for v in imposed]
        end = None if None in ends else max(ends)
        end_basis = "restriction" if end is not None else None
        if end is None and not any(v["kind"] == RestrictionKind.TERMINATION for v in imposed):
            # Open-ended until the investigation concludes: the date it is due to (notices.md).
            end = iso_or_none(case.review_deadline)
            end_basis = "investigation" if end is not None else None
        decision = {k: terms[k] for k in ("account", "provision", "text")}
        restricted = terms["restricted"]
    else:
        terms = None
        end = end_basis = None
        if kind == DecisionKind.WARN:
            text = (
                "This is a warning: no restriction is placed on your account now, but a "
                "further breach may lead to one."
            )
        else:
            text = LIFTED_TEXT.get(DecisionKind(kind), "No restriction applies to your account.")
            if kind == DecisionKind.RESTRICTION_EXPIRED and lifted:
                text = " ".join(
                    f"This restriction has ended: {restriction_wording(v)[0]}." for v in lifted
                )
        decision = {"account": "none", "provision": "none", "text": text}
        restricted = "nothing"
    appeals = settings.APPEALS_EMAIL
    redress = None
    if kind not in NOT_APPEALABLE:
        appeal_days = int(getattr(settings, "APPEAL_WINDOW_DAYS", DEFAULT_APPEAL_DAYS))
        appeal_by = at + timedelta(days=appeal_days)
        redress = {
            "contact": appeals,
            "by": iso_or_none(appeal_by),
            "text": (
                f"You may contest this decision by writing to {appeals} by "
                f"{appeal_by:%Y-%m-%d}, quoting the reference {reference}. Say why you think "
                "the decision is wrong and add anything that supports it. You do not need a "
                "lawyer to appeal, and an appeal costs nothing."
            ),
        }
    statement: dict[str, Any] = {
        "reference": reference,
        "kind": kind,
        "decision": decision,
        "restrictions": imposed,
        "lifted": lifted,
        "ground": {
            "decision_ground": "breach_of_terms_of_service",
            "text": ground_text,
            "policies": policies,
        },
        "facts": facts,
        "automated_detection": automated_detection,
        "automated_decision": decided_how,
        "start": iso_or_none(at),
        "end": end,
        "end_basis": end_basis,
        "scope": {"restricted": restricted, "territorial": "global"},
        "account_type": "business",
        "redress": redress,
        "dsa": None,
    }
    if terms is not None:
        statement["dsa"] = {
            "puid": reference,
            "decision_account": terms["dsa_account"],
            "decision_provision": terms["dsa_provision"],
            "decision_ground": "DECISION_GROUND_INCOMPATIBLE_CONTENT",
            "incompatible_content_ground": ground_text,
            "incompatible_content_explanation": explanation,
            "incompatible_content_illegal": "No",
            "category": getattr(settings, "DSA_STATEMENT_CATEGORY", DSA_CATEGORY),
            "content_type": ["CONTENT_TYPE_OTHER"],
            "content_type_other": DSA_CONTENT_TYPE_OTHER,
            "content_date": _content_date(case, at),
            "source_type": DSA_SOURCE_TYPE,
            "decision_facts": facts,
            "automated_detection": "Yes" if automated_detection else "No",
            "automated_decision": dsa_decided_how,
            "application_date": f"{at:%Y-%m-%d}",
            "end_date_account_restriction": (
                _when_day(end) or None if terms["account_level"] else None
            ),
            "end_date_service_restriction": (
                None if terms["account_level"] else _when_day(end) or None
            ),
            "territorial_scope": EEA,
            "account_type": "ACCOUNT_TYPE_BUSINESS",
        }
    return statement
