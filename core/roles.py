"""The staff roles: who may do what, and the Django permissions each role's group holds (see
docs/workflow.md).

A staff user's role is the strongest role group they belong to (``core.actors.user_role``); an API
client's is its stored ``role``. Model permissions drive what the admin shows; workflow actions
are checked by the services from the role itself (``role_allows``), so a permission can never
grant a transition the table does not allow.
"""

from __future__ import annotations

from enum import IntEnum

from django.db import models


class Role(models.TextChoices):
    ANALYST = "analyst", "Analyst"
    INVESTIGATOR = "investigator", "Investigator"
    LEAD = "lead", "Lead"
    AUDITOR = "auditor", "Auditor"


class RoleRank(IntEnum):
    """Staff roles ordered by what they may do; the auditor may do nothing."""

    AUDITOR = 0
    ANALYST = 1
    INVESTIGATOR = 2
    LEAD = 3


ROLE_RANK: dict[str, RoleRank] = {
    Role.AUDITOR: RoleRank.AUDITOR,
    Role.ANALYST: RoleRank.ANALYST,
    Role.INVESTIGATOR: RoleRank.INVESTIGATOR,
    Role.LEAD: RoleRank.LEAD,
}

# The role groups, strongest first.
ROLE_GROUPS = (Role.LEAD, Role.INVESTIGATOR, Role.ANALYST, Role.AUDITOR)


def role_allows(role: str | None, min_role: str) -> bool:
    if role is None:
        return False
    return ROLE_RANK.get(role, RoleRank.AUDITOR) >= ROLE_RANK[min_role]


def role_weaker(first: str | None, second: str | None) -> str | None:
    """The weaker of two roles; ``None`` (no role) if either is."""
    if first is None or second is None:
        return None
    return min(first, second, key=lambda r: ROLE_RANK[r])


VIEW_MODELS = {
    "accounts": [
        "account",
        "partner",
        "channel",
        "commondomain",
        "identifierkindsetting",
        "evasionpolicy",
        "accountlinkdismissal",
    ],
    "cases": [
        "case",
        "caseevent",
        "casenote",
        "evidencereference",
        "signal",
        "incident",
        "incidentsignal",
        "policyclause",
        "policyversion",
        "flagrule",
        "remediationplan",
        "remediationitem",
        "enforcementchange",
        "decision",
        "restriction",
        "appeal",
        "reviewdeadlinerule",
        "reminder",
        "approvalrequest",
        "statementsubmission",
        "cannedreason",
    ],
    "notifications": ["notice", "deliveryattempt", "webhookendpoint", "propagation"],
    "django_celery_beat": [
        "periodictask",
        "intervalschedule",
        "crontabschedule",
        "clockedschedule",
        "solarschedule",
    ],
}

# Beyond viewing everything: what each role may change in the admin (workflow actions are
# separate and go through the services).
EXTRA = {
    "analyst": [
        ("cases", "add_case"),
        ("cases", "add_casenote"),
        ("cases", "add_evidencereference"),
    ],
    "investigator": [
        ("cases", "add_case"),
        ("cases", "add_casenote"),
        ("cases", "add_evidencereference"),
    ],
    "lead": [
        ("cases", "add_case"),
        ("cases", "add_casenote"),
        ("cases", "add_evidencereference"),
        ("cases", "add_flagrule"),
        ("cases", "change_flagrule"),
        ("cases", "delete_flagrule"),
        ("cases", "add_policyclause"),
        ("cases", "change_policyclause"),
        ("cases", "change_reviewdeadlinerule"),
        ("cases", "add_cannedreason"),
        ("cases", "change_cannedreason"),
        ("notifications", "add_webhookendpoint"),
        ("notifications", "change_webhookendpoint"),
        ("django_celery_beat", "add_periodictask"),
        ("django_celery_beat", "change_periodictask"),
        ("django_celery_beat", "add_intervalschedule"),
        ("django_celery_beat", "add_crontabschedule"),
        ("accounts", "add_partner"),
        ("accounts", "change_partner"),
        ("accounts", "add_commondomain"),
        ("accounts", "change_commondomain"),
        ("accounts", "delete_commondomain"),
        ("accounts", "change_identifierkindsetting"),
        ("accounts", "change_evasionpolicy"),
        ("accounts", "view_apiclient"),
    ],
    # API clients (name, key prefix, role, scopes; never a key): leads and auditors.
    "auditor": [("accounts", "view_apiclient")],
}


def role_permissions() -> dict[str, list[tuple[str, str]]]:
    view = [(app, f"view_{model}") for app, models in VIEW_MODELS.items() for model in models]
    return {role: view + extra for role, extra in EXTRA.items()}
