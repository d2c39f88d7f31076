"""Every suspension and termination in force becomes a decision with its restriction.

Before decisions existed, an account's status was derived from its cases, and the statement of
reasons lived only on the notices sent to its contacts. For each account suspended or
terminated now: a ``suspend`` or ``terminate`` decision on the case that holds the status, made
by whoever took the step (its timeline event), carrying the statement that was sent (and its
reference) or, for an account that had no contact, a statement written now from the event's
reason and policy citations (marked ``migrated``); an open-ended restriction of the matching
kind from the moment the status began; and the account's restrictions in force. A suspension
whose ``scope`` named part of the service is kept as the full suspension the gateway enforced.
Changes already in the feed stay as they were written (append-only).
"""

import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import migrations


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").removesuffix("+00:00") + "Z"


KINDS = {
    "suspended": ("suspend", "suspension", "suspension", "DECISION_ACCOUNT_SUSPENDED"),
    "terminated": ("terminate", "termination", "termination", "DECISION_ACCOUNT_TERMINATED"),
}


def _statement_written_now(reference, kind, event, since, restriction_kind):
    verb = "terminated" if restriction_kind == "termination" else "suspended"
    policies = [
        {
            "code": c.get("code"),
            "version": c.get("version"),
            "title": c.get("title", ""),
            "text": "",
        }
        for c in (event.policy_versions if event is not None else [])
        if isinstance(c, dict)
    ]
    ground = "Breach of the terms of service: " + (
        "; ".join(f"{p['code']} (version {p['version']})" for p in policies) or "see the facts"
    )
    reason = event.reason if event is not None else ""
    return {
        "reference": reference,
        "kind": kind,
        "migrated": True,
        "decision": {
            "account": f"account_{verb}",
            "provision": f"API access {verb} in full",
            "text": f"Your account's API access is {verb}.",
        },
        "restrictions": [],
        "lifted": [],
        "ground": {
            "decision_ground": "breach_of_terms_of_service",
            "text": ground,
            "policies": policies,
        },
        "facts": f"Decision: {reason}".strip() if reason else "",
        "automated_detection": False,
        "automated_decision": "not_automated"
        if event is not None and event.actor_kind == "staff"
        else "fully",
        "start": _iso(since),
        "end": None,
        "end_basis": None,
        "scope": {"restricted": "all API access", "territorial": "global"},
        "account_type": "business",
        "redress": {
            "contact": settings.APPEALS_EMAIL,
            "by": None,
            "text": f"You may contest this decision by writing to {settings.APPEALS_EMAIL}, "
            f"quoting the reference {reference}.",
        },
        "dsa": None,
    }


def forward(apps, schema_editor):
    Account = apps.get_model("accounts", "Account")
    Case = apps.get_model("cases", "Case")
    Change = apps.get_model("cases", "EnforcementChange")
    Decision = apps.get_model("cases", "Decision")
    Restriction = apps.get_model("cases", "Restriction")
    Notice = apps.get_model("notifications", "Notice")
    for account in Account.objects.filter(enforcement_status__in=list(KINDS)).order_by("pk"):
        kind, restriction_kind, email, _ = KINDS[account.enforcement_status]
        change = (
            Change.objects.filter(account_id=account.pk, status=account.enforcement_status)
            .order_by("-seq")
            .first()
        )
        case_id = account.enforcement_case_id or (change.case_id if change else None)
        if case_id is None:
            continue  # no case holds it: nothing to found a decision on
        case = Case.objects.get(pk=case_id)
        event = change.event if change is not None and change.event_id else None
        since = account.enforcement_since
        sent = (
            Notice.objects.filter(case_id=case.pk, event=email)
            .exclude(statement_reference="")
            .order_by("-id")
            .first()
        )
        if sent is not None and sent.statement:
            reference, statement = sent.statement_reference, dict(sent.statement)
        else:
            reference = f"sor_{uuid.uuid4().hex}"
            statement = _statement_written_now(reference, kind, event, since, restriction_kind)
        decision = Decision.objects.create(
            reference=reference,
            kind=kind,
            case_id=case.pk,
            account_id=account.pk,
            event_id=event.pk if event is not None else None,
            decided_at=event.at if event is not None else since,
            actor_kind=event.actor_kind if event is not None else "system",
            acted_by=(event.acted_by or ("person" if event.actor_kind == "staff" else "automation"))
            if event is not None
            else "automation",
            actor_label=event.actor_label if event is not None else "migration",
            actor_user_id=event.actor_user_id if event is not None else None,
            actor_client_id=event.actor_client_id if event is not None else None,
            automated=statement.get("automated_decision") == "fully",
            reason=event.reason if event is not None else "",
            policy_versions=list(event.policy_versions) if event is not None else [],
            statement=statement,
        )
        Restriction.objects.create(
            decision_id=decision.pk,
            account_id=account.pk,
            case_id=case.pk,
            kind=restriction_kind,
            starts_at=since,
            ends_at=None,
        )
        view = {
            "kind": restriction_kind,
            "models": [],
            "features": [],
            "requests_per_minute": None,
            "tokens_per_minute": None,
            "starts_at": _iso(since),
            "ends_at": None,
            "decision": reference,
            "case": case.pk,
        }
        Account.objects.filter(pk=account.pk).update(
            enforcement_restrictions=[view], enforcement_until=None, enforcement_case_id=case.pk
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0009_decisions_and_restrictions"),
        ("notifications", "0006_sent_notice_truncate_guards"),
    ]

    # Backwards: the decisions stay (append-only); the previous schema ignores them.
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
