"""The staff roles and the Django permissions each group holds (see docs/workflow.md).

Model permissions drive what the admin shows; workflow actions are checked by the services
from the role itself, so a permission can never grant a transition the table does not allow.
"""

from __future__ import annotations

VIEW_MODELS = {
    "accounts": ["account", "partner", "channel"],
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
        "reviewdeadlinerule",
        "reminder",
    ],
    "notifications": ["notice", "deliveryattempt", "webhookendpoint"],
    "django_celery_beat": ["periodictask", "intervalschedule", "crontabschedule"],
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
        ("notifications", "add_webhookendpoint"),
        ("notifications", "change_webhookendpoint"),
        ("django_celery_beat", "add_periodictask"),
        ("django_celery_beat", "change_periodictask"),
        ("django_celery_beat", "add_intervalschedule"),
        ("django_celery_beat", "add_crontabschedule"),
        ("accounts", "add_partner"),
        ("accounts", "change_partner"),
    ],
    "auditor": [],
}


def role_permissions() -> dict[str, list[tuple[str, str]]]:
    view = [(app, f"view_{model}") for app, models in VIEW_MODELS.items() for model in models]
    return {role: view + extra for role, extra in EXTRA.items()}
