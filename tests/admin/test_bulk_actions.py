"""Acceptance 4: bulk actions take each case through the service and say what was refused."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from cases.models import Case, CaseEvent
from tests.admin.conftest import POLICY, MakeCase, messages_of


def bulk(client: Any, action: str, cases: list[Case], **data: Any) -> Any:
    return client.post(
        "/admin/cases/case/",
        {"action": action, "_selected_action": [c.pk for c in cases], "apply": "1", **data},
        follow=True,
    )


def test_bulk_suspend_applies_two_and_names_the_one_refused(
    login: Any, make_case: MakeCase
) -> None:
    first, second = make_case("flagged"), make_case("flagged")
    blocked = make_case("investigated", external_id="already-investigated")
    before = {c.pk: CaseEvent.objects.filter(case=c).count() for c in (first, second, blocked)}

    response = bulk(
        login("analyst"),
        "bulk_suspend",
        [first, second, blocked],
        reason="coordinated scraping",
        policies=[POLICY],
    )

    states = dict(Case.objects.filter(pk__in=before).values_list("pk", "state"))
    new_events = CaseEvent.objects.filter(
        case_id__in=before, action="suspend", reason="coordinated scraping"
    )
    text = " ".join(messages_of(response))
    assert states == {first.pk: "suspended", second.pk: "suspended", blocked.pk: "investigated"}
    assert new_events.count() == 2
    assert CaseEvent.objects.filter(case=blocked).count() == before[blocked.pk]
    assert f"Suspended 2 case(s): #{first.pk}" in text
    assert f"Refused 1 case(s): #{blocked.pk} (already-investigated)" in text
    assert "Cannot suspend a case that is investigated" in text


def test_bulk_action_first_asks_for_the_shared_reason(login: Any, make_case: MakeCase) -> None:
    cases = [make_case("flagged"), make_case("flagged")]

    response = login("analyst").post(
        "/admin/cases/case/",
        {"action": "bulk_suspend", "_selected_action": [c.pk for c in cases]},
    )

    assert response.status_code == 200
    assert b'name="reason"' in response.content
    assert b'name="policies"' in response.content
    assert set(Case.objects.values_list("state", flat=True)) == {"flagged"}


def test_bulk_suspend_without_a_policy_changes_nothing(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")

    response = login("analyst").post(
        "/admin/cases/case/",
        {"action": "bulk_suspend", "_selected_action": [case.pk], "apply": "1", "reason": "x"},
    )

    case.refresh_from_db()
    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert case.state == "flagged"


def test_bulk_dismiss_by_an_analyst_refuses_investigated_cases(
    login: Any, make_case: MakeCase
) -> None:
    flagged, investigated = make_case("flagged"), make_case("investigated")

    response = bulk(login("analyst"), "bulk_dismiss", [flagged, investigated], reason="noise")

    flagged.refresh_from_db()
    investigated.refresh_from_db()
    text = " ".join(messages_of(response))
    assert flagged.state == "dismissed"
    assert investigated.state == "investigated"
    assert f"#{investigated.pk}" in text
    assert "may not dismiss" in text


def test_bulk_assign_by_a_lead_and_analysts_only_take_for_themselves(
    login: Any, make_case: MakeCase, users: dict[str, User]
) -> None:
    first, second = make_case("flagged"), make_case("suspended")

    analyst_form = login("analyst").post(
        "/admin/cases/case/", {"action": "bulk_assign", "_selected_action": [first.pk]}
    )
    bulk(login("analyst"), "bulk_assign", [first], assignee=users["analyst"].pk)
    response = bulk(
        login("lead"), "bulk_assign", [first, second], assignee=users["investigator"].pk
    )

    first.refresh_from_db()
    second.refresh_from_db()
    choices = analyst_form.context["form"].fields["assignee"].queryset
    assert list(choices) == [users["analyst"]]
    assert first.assignee_id == users["investigator"].pk
    assert second.assignee_id == users["investigator"].pk
    assert "Assigned 2 case(s)" in " ".join(messages_of(response))
