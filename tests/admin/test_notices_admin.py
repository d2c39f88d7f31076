"""Notices and deliveries in the admin, and the "redeliver" action."""

from __future__ import annotations

from typing import Any

import pytest

from core.actors import Actor
from core.errors import Conflict
from notifications import services
from notifications.models import DeliveryAttempt, Notice
from tests.admin.conftest import MakeCase, messages_of


def failed_notice(make_case: MakeCase) -> Notice:
    case = make_case("suspended")
    notice = Notice.objects.filter(case=case).first()
    assert notice is not None
    DeliveryAttempt.objects.create(notice=notice, status_code=503, error="unavailable")
    return notice


def redeliver(client: Any, notices: list[Notice]) -> Any:
    return client.post(
        "/admin/notifications/notice/",
        {"action": "redeliver", "_selected_action": [str(n.pk) for n in notices]},
        follow=True,
    )


def test_redeliver_calls_the_notices_service_for_each_notice(
    login: Any, make_case: MakeCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    notice = failed_notice(make_case)
    calls: list[tuple[Any, Actor]] = []

    def fake(*, notice_id: Any, actor: Actor) -> None:
        calls.append((notice_id, actor))

    monkeypatch.setattr(services, "notice_redeliver", fake)

    response = redeliver(login("investigator"), [notice])

    assert [(n, a.label, a.role) for n, a in calls] == [(notice.pk, "investigator", "investigator")]
    assert any("Queued 1 notice(s) again" in m for m in messages_of(response))


def test_redeliver_reports_a_refusal(
    login: Any, make_case: MakeCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    notice = failed_notice(make_case)

    def refuse(*, notice_id: Any, actor: Actor) -> None:
        raise Conflict(detail="The notice is pending; only delivered or failed are resent.")

    monkeypatch.setattr(services, "notice_redeliver", refuse)

    response = redeliver(login("lead"), [notice])

    assert any("Refused 1" in m and "The notice is pending" in m for m in messages_of(response))


@pytest.mark.parametrize("role", ["auditor", "analyst"])
def test_redeliver_is_for_investigators_and_leads(
    login: Any, make_case: MakeCase, monkeypatch: pytest.MonkeyPatch, role: str
) -> None:
    notice = failed_notice(make_case)
    calls: list[Any] = []
    monkeypatch.setattr(services, "notice_redeliver", lambda **kw: calls.append(kw))
    client = login(role)

    page = client.get("/admin/notifications/notice/")
    redeliver(client, [notice])

    assert b'value="redeliver"' not in page.content
    assert calls == []


def test_redeliver_with_the_real_service(login: Any, make_case: MakeCase) -> None:
    notice = failed_notice(make_case)
    Notice.objects.filter(pk=notice.pk).update(status="failed")

    response = redeliver(login("lead"), [notice])

    notice.refresh_from_db()
    assert not any("Refused" in m for m in messages_of(response))
    assert notice.status == "pending"


def test_notice_page_shows_its_delivery_attempts(login: Any, make_case: MakeCase) -> None:
    notice = failed_notice(make_case)

    html = login("auditor").get(f"/admin/notifications/notice/{notice.pk}/change/").content

    assert b"unavailable" in html
    assert b"503" in html


def test_resending_a_delivered_notice_asks_first_naming_the_recipient(
    login: Any, make_case: MakeCase
) -> None:
    notice = failed_notice(make_case)
    Notice.objects.filter(pk=notice.pk).update(status="delivered")
    client = login("lead")

    asked = redeliver(client, [notice])
    notice.refresh_from_db()
    status_after_asking = notice.status
    confirmed = client.post(
        "/admin/notifications/notice/",
        {"action": "redeliver", "confirm": "1", "_selected_action": [str(notice.pk)]},
        follow=True,
    )

    notice.refresh_from_db()
    assert b'id="ts-redeliver-warning"' in asked.content
    assert notice.recipient.encode() in asked.content
    assert status_after_asking == "delivered"  # asking sent nothing
    assert notice.status == "pending"
    queued = [m for m in messages_of(confirmed) if "Queued 1 notice(s) again" in m]
    assert queued and notice.recipient in queued[0] and notice.webhook_id not in queued[0]
