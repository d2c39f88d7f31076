"""``GET /api/v1/cases/{id}/notices`` and its selector."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from accounts.models import Account
from cases.actions import Suspend
from cases.services import case_open, case_transition
from core.actors import Actor
from notifications.models import Notice
from notifications.selectors import case_notices_list
from notifications.tasks import notice_send


def test_case_notices_lists_each_notice_with_its_deliveries(
    account: Account, actors: dict[str, Actor], users: Any, policies: Any
) -> None:
    case = case_open(account=account, summary="Scraping", actor=actors["analyst"])
    case_transition(
        case=case,
        command=Suspend(reason="Evasion", policies=["rate-limit-evasion"]),
        actor=actors["analyst"],
    )
    first = Notice.objects.filter(case=case).order_by("recipient").first()
    assert first is not None
    notice_send(str(first.pk))
    assert [n.pk for n in case_notices_list(case.pk)] == [
        n.pk for n in Notice.objects.filter(case=case).order_by("created_at", "id")
    ]

    client = APIClient()
    client.force_authenticate(users["auditor"])
    response = client.get(f"/api/v1/cases/{case.pk}/notices")

    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 2
    by_recipient = {r["recipient"]: r for r in results}
    sent = by_recipient[first.recipient]
    assert sent["status"] == "delivered"
    assert sent["event"] == "suspension"
    assert sent["statement"]["reference"] == sent["statement_reference"]
    assert [d["succeeded"] for d in sent["deliveries"]] == [True]
    assert sent["webhook_id"] is None
    other = next(r for r in results if r["recipient"] != first.recipient)
    assert other["deliveries"] == []


def test_notices_of_an_unknown_case_is_404(users: Any) -> None:
    client = APIClient()
    client.force_authenticate(users["auditor"])
    assert client.get("/api/v1/cases/999999/notices").status_code == 404
