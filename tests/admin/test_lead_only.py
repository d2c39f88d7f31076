"""Only leads edit flag rules, deadlines, policies, canned reasons and webhook endpoints; policy
edits version."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from cases.models import CannedReason, FlagRule, PolicyClause, PolicyVersion, ReviewDeadlineRule
from notifications.crypto import secret_decrypt
from notifications.models import WebhookEndpoint
from tests.admin.conftest import messages_of

NOT_LEADS = ["analyst", "investigator", "auditor"]


def test_lead_edits_a_policy_and_a_new_version_is_made(
    login: Any, policies: dict[str, PolicyClause], users: dict[str, Any]
) -> None:
    clause = policies["rate-limit-evasion"]
    old = PolicyVersion.objects.get(policy=clause, version=2)
    old_text = old.text

    response = login("lead").post(
        f"/admin/cases/policyclause/{clause.pk}/change/",
        {
            "title": "Rate-limit evasion",
            "severity": "critical",
            "text": "Do not rotate keys to dodge limits.",
            **inline_management("versions"),
        },
    )

    clause.refresh_from_db()
    new = PolicyVersion.objects.get(policy=clause, version=3)
    assert response.status_code == 302, response.content[:2000]
    assert clause.current_version == 3
    assert clause.severity == "critical"
    assert new.text == "Do not rotate keys to dodge limits."
    assert new.created_by == users["lead"]
    assert PolicyVersion.objects.get(pk=old.pk).text == old_text
    assert PolicyVersion.objects.filter(policy=clause).count() == 3


def test_saving_a_policy_unchanged_makes_no_version(
    login: Any, policies: dict[str, PolicyClause]
) -> None:
    clause = policies["rate-limit-evasion"]
    current = PolicyVersion.objects.get(policy=clause, version=2)

    login("lead").post(
        f"/admin/cases/policyclause/{clause.pk}/change/",
        {
            "title": current.title,
            "severity": current.severity,
            "text": current.text,
            **inline_management("versions"),
        },
    )

    clause.refresh_from_db()
    assert clause.current_version == 2


def test_lead_adds_a_policy_with_its_first_version(login: Any, db: Any) -> None:
    login("lead").post(
        "/admin/cases/policyclause/add/",
        {
            "code": "weapons-uplift",
            "title": "Weapons uplift",
            "severity": "critical",
            "text": "No help with weapons.",
            **inline_management("versions"),
        },
    )

    clause = PolicyClause.objects.get(code="weapons-uplift")
    assert clause.current_version == 1
    assert PolicyVersion.objects.get(policy=clause).text == "No help with weapons."


def test_policy_versions_are_read_only_even_for_leads(
    login: Any, policies: dict[str, PolicyClause]
) -> None:
    version = PolicyVersion.objects.filter(policy=policies["rate-limit-evasion"]).first()
    assert version is not None
    client = login("lead")

    page = client.get(f"/admin/cases/policyversion/{version.pk}/change/")
    forged = client.post(f"/admin/cases/policyversion/{version.pk}/change/", {"text": "x"})

    assert page.status_code == 200
    assert b'name="text"' not in page.content
    assert forged.status_code == 403


@pytest.mark.parametrize("role", NOT_LEADS)
def test_others_cannot_edit_policies(
    login: Any, policies: dict[str, PolicyClause], role: str
) -> None:
    clause = policies["rate-limit-evasion"]

    page = login(role).get(f"/admin/cases/policyclause/{clause.pk}/change/")
    forged = login(role).post(
        f"/admin/cases/policyclause/{clause.pk}/change/",
        {"title": "x", "severity": "low", "text": "gone", **inline_management("versions")},
    )
    add = login(role).get("/admin/cases/policyclause/add/")

    clause.refresh_from_db()
    assert page.status_code == 200
    assert b'name="text"' not in page.content
    assert forged.status_code == 403
    assert add.status_code == 403
    assert clause.current_version == 2


def test_lead_edits_flag_rules_and_deadlines(login: Any, db: Any) -> None:
    rule = FlagRule.objects.get(name="Any critical signal")
    deadline = ReviewDeadlineRule.objects.get(state="flagged", priority="critical")
    client = login("lead")

    client.post(
        f"/admin/cases/flagrule/{rule.pk}/change/",
        {
            "name": rule.name,
            "kind": rule.kind,
            "min_severity": "high",
            "signal_kind": "",
            "threshold": 1,
            "window": "1 00:00:00",
            "policy": "",
            "priority": "",
            "active": "on",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
    )
    client.post(
        f"/admin/cases/reviewdeadlinerule/{deadline.pk}/change/",
        {"state": "flagged", "priority": "critical", "duration": "02:00:00"},
    )

    rule.refresh_from_db()
    deadline.refresh_from_db()
    assert rule.min_severity == "high"
    assert deadline.duration == timedelta(hours=2)


@pytest.mark.parametrize("role", NOT_LEADS)
def test_others_cannot_edit_rules_or_endpoints(login: Any, db: Any, role: str) -> None:
    rule = FlagRule.objects.get(name="Any critical signal")
    deadline = ReviewDeadlineRule.objects.get(state="flagged", priority="critical")
    endpoint = WebhookEndpoint.objects.create(
        url="https://hooks.example/a", event_types=["case.transitioned"], secret="whsec_x"
    )
    canned = CannedReason.objects.create(title="Spam", text="Spam.", actions=["dismiss"])
    client = login(role)

    responses = [
        client.post(f"/admin/cases/flagrule/{rule.pk}/change/", {"name": "x", "threshold": 9}),
        client.post(f"/admin/cases/flagrule/{rule.pk}/delete/", {"post": "yes"}),
        client.post(
            f"/admin/cases/reviewdeadlinerule/{deadline.pk}/change/", {"duration": "00:01:00"}
        ),
        client.post(
            f"/admin/notifications/webhookendpoint/{endpoint.pk}/change/",
            {"url": "https://evil.example", "event_types": ["case.transitioned"]},
        ),
        client.get("/admin/notifications/webhookendpoint/add/"),
        client.get("/admin/cases/flagrule/add/"),
        client.post(
            f"/admin/cases/cannedreason/{canned.pk}/change/",
            {"title": "Spam", "text": "Changed.", "actions": ["dismiss"]},
        ),
        client.post(f"/admin/cases/cannedreason/{canned.pk}/delete/", {"post": "yes"}),
        client.get("/admin/cases/cannedreason/add/"),
    ]
    deactivate = client.post(
        "/admin/cases/cannedreason/", {"action": "deactivate", "_selected_action": [canned.pk]}
    )

    rule.refresh_from_db()
    deadline.refresh_from_db()
    endpoint.refresh_from_db()
    canned.refresh_from_db()
    assert [r.status_code for r in responses] == [403] * 9
    assert deactivate.status_code in (200, 302)
    assert rule.threshold == 1
    assert deadline.duration == timedelta(hours=4)
    assert endpoint.url == "https://hooks.example/a"
    assert (canned.text, canned.active) == ("Spam.", True)


def test_lead_adds_a_webhook_endpoint_and_sees_its_secret_once(
    login: Any, partner: Any, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the example host does not resolve
    response = login("lead").post(
        "/admin/notifications/webhookendpoint/add/",
        {
            "partner": partner.pk,
            "url": "https://hooks.cloudco.example/ts",
            "description": "CloudCo enforcement feed",
            "event_types": ["enforcement.suspended", "enforcement.reinstated"],
        },
        follow=True,
    )

    endpoint = WebhookEndpoint.objects.get(url="https://hooks.cloudco.example/ts")
    shown = re.findall(r"whsec_[A-Za-z0-9+/=]+", " ".join(messages_of(response)))
    assert len(shown) == 1
    assert stored_secret(endpoint.secret) == shown[0]
    assert endpoint.event_types == ["enforcement.suspended", "enforcement.reinstated"]
    assert endpoint.partner == partner
    assert endpoint.active is True


def test_webhook_url_into_our_own_network_is_refused(login: Any, db: Any, settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    response = login("lead").post(
        "/admin/notifications/webhookendpoint/add/",
        {"url": "http://127.0.0.1:6379/", "event_types": ["case.transitioned"]},
    )

    assert response.status_code == 200
    assert WebhookEndpoint.objects.exists() is False


def stored_secret(stored: str) -> str:
    """The plain secret of an endpoint, which is stored encrypted."""
    assert not stored.startswith("whsec_")  # never in plain text at rest
    plain: str = secret_decrypt(stored)
    return plain


@pytest.mark.parametrize(("role", "status"), [("lead", 200), ("auditor", 403)])
def test_canned_reasons_are_added_by_leads_only(
    login: Any, db: Any, role: str, status: int
) -> None:
    assert login(role).get("/admin/cases/cannedreason/add/").status_code == status


@pytest.mark.parametrize(("role", "status"), [("lead", 200), ("auditor", 403)])
def test_beat_schedule_is_editable_by_leads_only(
    login: Any, db: Any, role: str, status: int
) -> None:
    assert login(role).get("/admin/django_celery_beat/periodictask/add/").status_code == status


def inline_management(prefix: str) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
