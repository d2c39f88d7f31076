"""The legal holds page: every role that reads cases reads the holds; only leads place a hold
(on an account or a case) and release one; nobody edits or deletes one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.utils import timezone

from cases.models import CaseEvent, LegalHold
from cases.services.holds import legal_hold_place, legal_hold_release
from core.actors import Actor
from tests.admin.conftest import MakeCase, change_url, messages_of

LIST = "/admin/cases/legalhold/"
ADD = "/admin/cases/legalhold/add/"


def in_days(days: int) -> str:
    return f"{timezone.localdate() + timedelta(days=days):%Y-%m-%d}"


def form(**values: Any) -> dict[str, Any]:
    return {
        "account": "",
        "case": "",
        "legal_reference": "Matter 2026-114",
        "reason": "Litigation hold: the customer sued",
        "review_date": in_days(90),
        **values,
    }


def place(actor: Actor, **kwargs: Any) -> LegalHold:
    values: dict[str, Any] = {
        "reason": "Regulator's request",
        "legal_reference": "REQ-7",
        "review_date": timezone.localdate() + timedelta(days=30),
        **kwargs,
    }
    return legal_hold_place(actor=actor, **values)


def release_url(hold: LegalHold) -> str:
    return f"{LIST}{hold.pk}/release/"


def actions_of(case: Any) -> list[str]:
    return list(
        CaseEvent.objects.filter(case=case).order_by("seq").values_list("action", flat=True)
    )


def test_a_lead_places_a_hold_on_an_account(login: Any, make_case: MakeCase) -> None:
    case = make_case("suspended")
    client = login("lead")
    assert 'id="ts-hold-place"' in client.get(LIST).content.decode()
    assert client.get(ADD).status_code == 200

    response = client.post(ADD, form(account=case.account.external_id), follow=True)

    hold = LegalHold.objects.get()
    assert (hold.account_id, hold.case_id, hold.placed_by) == (case.account_id, None, "lead")
    assert hold.legal_reference == "Matter 2026-114" and hold.is_active
    assert any("is placed" in m for m in messages_of(response))
    assert actions_of(case)[-1] == "hold_placed"


def test_a_lead_places_a_hold_on_a_case_and_releases_it(login: Any, make_case: MakeCase) -> None:
    case = make_case("investigated")
    client = login("lead")
    assert client.get(f"{ADD}?case={case.pk}").context["form"].initial == {"case": str(case.pk)}

    client.post(ADD, form(case=str(case.pk)))
    hold = LegalHold.objects.get()
    assert (hold.account_id, hold.case_id) == (None, case.pk)
    page = client.get(f"{LIST}{hold.pk}/change/").content.decode()
    assert release_url(hold) in page and 'name="_save"' not in page
    assert release_url(hold) in client.get(LIST).content.decode()
    assert client.get(release_url(hold)).status_code == 200

    response = client.post(release_url(hold), {"reason": "The matter is closed"}, follow=True)

    hold.refresh_from_db()
    assert not hold.is_active
    assert (hold.released_by, hold.release_reason) == ("lead", "The matter is closed")
    assert any("is released" in m for m in messages_of(response))
    assert actions_of(case)[-2:] == ["hold_placed", "hold_released"]
    page = client.get(f"{LIST}{hold.pk}/change/").content.decode()
    assert release_url(hold) not in page and "The matter is closed" in page


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"account": "ACCOUNT", "reason": ""}, "Give the reason for the hold."),
        ({"account": "ACCOUNT", "legal_reference": "  "}, "Give the legal reference"),
        ({"account": "ACCOUNT", "review_date": in_days(-1)}, "review date must be today or later"),
        ({"account": "ACCOUNT", "review_date": "soon"}, "review date as a date"),
        ({"account": "ACCOUNT", "case": "CASE"}, "on an account or on a case, not both"),
        ({}, "Say what the hold is on"),
        ({"account": "nobody-such"}, "No account with external id 'nobody-such'."),
        ({"case": "999999"}, "No case #999999."),
    ],
)
def test_bad_input_is_a_message_and_places_nothing(
    login: Any, make_case: MakeCase, values: dict[str, str], words: str
) -> None:
    case = make_case("suspended")
    events = actions_of(case)
    filled = {
        k: {"ACCOUNT": case.account.external_id, "CASE": str(case.pk)}.get(v, v)
        for k, v in values.items()
    }

    response = login("lead").post(ADD, form(**filled))

    assert response.status_code == 200
    shown = messages_of(response)
    assert any(m.startswith("No hold was placed.") and words in m for m in shown), shown
    assert not any(name in " ".join(shown) for name in ("legal_reference", "review_date"))
    assert not LegalHold.objects.exists()
    assert actions_of(case) == events


def test_a_service_refusal_is_said_in_words(
    login: Any, make_case: MakeCase, monkeypatch: Any
) -> None:
    """What only the service catches (the date passing midnight meanwhile) reads as well."""
    case = make_case("suspended")
    monkeypatch.setattr(
        "cases.admin.forms.LegalHoldPlaceForm.clean_review_date",
        lambda self: self.cleaned_data["review_date"],
    )

    response = login("lead").post(
        ADD, form(account=case.account.external_id, review_date="2000-01-01")
    )

    assert any("The review date must be today or later." in m for m in messages_of(response))
    assert not LegalHold.objects.exists()


def test_releasing_needs_a_reason_and_happens_once(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    case = make_case("suspended")
    hold = place(actors["lead"], case=case)
    client = login("lead")

    response = client.post(release_url(hold), {"reason": "  "})

    assert any("Give the reason the hold is released." in m for m in messages_of(response))
    hold.refresh_from_db()
    assert hold.is_active

    legal_hold_release(hold=hold, reason="closed", actor=actors["lead"])
    events = actions_of(case)
    response = client.post(release_url(hold), {"reason": "again"}, follow=True)

    assert any("released already" in m for m in messages_of(response))
    hold.refresh_from_db()
    assert hold.release_reason == "closed"
    assert actions_of(case) == events


@pytest.mark.parametrize("role", ["analyst", "investigator", "auditor"])
def test_other_roles_read_the_holds_but_neither_place_nor_release(
    login: Any, make_case: MakeCase, actors: dict[str, Actor], role: str
) -> None:
    case = make_case("suspended")
    hold = place(actors["lead"], account=case.account)
    client = login(role)

    listing = client.get(LIST)
    page = client.get(f"{LIST}{hold.pk}/change/")

    assert listing.status_code == 200 and page.status_code == 200
    assert "REQ-7" in listing.content.decode()
    for html in (listing.content.decode(), page.content.decode()):
        assert 'id="ts-hold-place"' not in html and release_url(hold) not in html
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, form(account=case.account.external_id)).status_code == 403
    assert client.get(release_url(hold)).status_code == 403
    assert client.post(release_url(hold), {"reason": "forged"}).status_code == 403
    hold.refresh_from_db()
    assert hold.is_active and LegalHold.objects.count() == 1


@pytest.mark.parametrize("role", ["lead", "auditor"])
def test_a_hold_is_never_deleted_nor_edited(
    login: Any, make_case: MakeCase, actors: dict[str, Actor], role: str
) -> None:
    case = make_case("suspended")
    hold = place(actors["lead"], case=case)
    client = login(role)

    page = client.get(f"{LIST}{hold.pk}/change/").content.decode()
    assert "deletelink" not in page and 'name="_save"' not in page
    assert 'name="action"' not in client.get(LIST).content.decode()  # no bulk delete
    assert client.post(f"{LIST}{hold.pk}/delete/", {"post": "yes"}).status_code == 403
    edited = client.post(f"{LIST}{hold.pk}/change/", form(case=str(case.pk), reason="edited"))
    assert edited.status_code == 403
    assert LegalHold.objects.get().reason == "Regulator's request"


def test_the_list_filters_searches_and_flags_an_overdue_review(
    login: Any, make_case: MakeCase, actors: dict[str, Actor], monkeypatch: Any
) -> None:
    first, second = make_case("suspended"), make_case("flagged")
    today = timezone.localdate()
    soon = today + timedelta(days=1)
    on_account = place(
        actors["lead"], account=first.account, legal_reference="Matter A", review_date=soon
    )
    on_case = place(actors["lead"], case=second, legal_reference="Court B")
    released = place(
        actors["lead"], account=second.account, legal_reference="Request C", review_date=soon
    )
    legal_hold_release(hold=released, reason="done", actor=actors["lead"])
    # A hold's dates never change: the page is read three days later instead.
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: today + timedelta(days=3))
    client = login("auditor")

    def shown(query: str) -> set[int]:
        return {obj.pk for obj in client.get(f"{LIST}?{query}").context["cl"].result_list}

    assert shown("") == {on_account.pk, on_case.pk, released.pk}
    assert shown("status=active") == {on_account.pk, on_case.pk}
    assert shown("status=released") == {released.pk}
    assert shown("q=court") == {on_case.pk}
    assert shown(f"q={first.account.external_id}") == {on_account.pk}
    assert shown(f"q={second.account.external_id}") == {on_case.pk, released.pk}
    assert shown(f"q={second.pk}") == {on_case.pk}
    assert shown(f"q={quote(first.account.name)}&status=active") == {on_account.pk}
    html = client.get(LIST).content.decode()
    assert html.count("(review overdue)") == 1  # a released hold is reviewed no more
    assert f'href="/admin/accounts/account/{first.account_id}/change/"' in html
    assert f'href="{change_url(second)}"' in html


def test_the_list_query_count_does_not_grow_with_holds(
    login: Any,
    make_case: MakeCase,
    actors: dict[str, Actor],
    django_assert_max_num_queries: Any,
) -> None:
    for i in range(15):
        case = make_case("suspended")
        place(actors["lead"], account=case.account, legal_reference=f"Matter {i}")
        hold = place(actors["lead"], case=case, legal_reference=f"Court {i}")
        if i % 3 == 0:
            legal_hold_release(hold=hold, reason="done", actor=actors["lead"])
    assert LegalHold.objects.count() == 30
    client = login("lead")
    client.get(LIST)  # warm the per-process caches (content types)

    # session, user, groups, the page and its count, and the holds with accounts and cases
    with django_assert_max_num_queries(8):
        response = client.get(LIST)

    assert len(response.context["cl"].result_list) == 30


def test_the_case_and_account_pages_show_their_active_holds(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    case, other = make_case("suspended"), make_case("flagged")
    on_account = place(actors["lead"], account=case.account, legal_reference="Matter A")
    on_case = place(actors["lead"], case=case, legal_reference="Court B")
    released = place(actors["lead"], case=case, legal_reference="Request C")
    legal_hold_release(hold=released, reason="done", actor=actors["lead"])
    place(actors["lead"], case=other, legal_reference="Elsewhere D")
    all_of_account = f"{LIST}?q={case.account.external_id}"

    for role in ("lead", "auditor"):
        client = login(role)
        case_page = client.get(change_url(case)).content.decode()
        account_page = client.get(
            f"/admin/accounts/account/{case.account_id}/change/"
        ).content.decode()
        for page in (case_page, account_page):
            assert f'href="{LIST}{on_account.pk}/change/">Matter A</a>' in page
            assert f'href="{LIST}{on_case.pk}/change/">Court B</a>' in page
            # the released hold is on the timeline only, never among the active holds
            assert ">Request C</a>" not in page and "Elsewhere D" not in page
            assert f'href="{all_of_account}" id="ts-holds-all"' in page
        assert (f'href="{ADD}?case={case.pk}"' in case_page) is (role == "lead")
    page = login("lead").get(f"/admin/accounts/account/{other.account_id}/change/")
    assert ">Elsewhere D</a> (on case #" in page.content.decode()
    assert "No active legal hold." in login("lead").get(change_url(make_case())).content.decode()
