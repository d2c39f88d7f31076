"""Saved views of the case list: a person saves the list's filters, search and ordering under a
name, finds them as links on the list and on the dashboard, and deletes their own. Each is
private; what is stored is only what the list accepts; bad input is a message, never a 500,
and saves nothing; the forms are CSRF-protected; an auditor may keep views, and doing so
changes nothing else."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client

from cases.admin.case import LIST_PARAMS
from cases.models import Case, SavedView
from cases.services import case_assign
from cases.services.saved_views import SAVED_VIEWS_PER_USER, saved_view_create
from core.actors import Actor
from tests.admin.conftest import MakeCase, messages_of
from tests.admin.test_auditor_reads_only import snapshot

LIST = "/admin/cases/case/"
SAVE = "/admin/cases/case/saved-views/"


def delete_url(view: SavedView) -> str:
    return f"/admin/cases/case/saved-views/{view.pk}/delete/"


def save(client: Client, name: str, query: str, **extra: Any) -> Any:
    return client.post(SAVE, {"name": name, "query": query, **extra}, follow=True)


def links(html: str) -> dict[str, str]:
    """The saved views shown on a page: name to the URL it links to."""
    box = re.search(r'id="ts-saved-views".*?</(div|section)>', html, re.S)
    assert box is not None
    on_dashboard = re.findall(r'<li><a href="([^"]+)">([^<]+)</a>', box.group(0))
    on_list = re.findall(
        r'<a href="([^"]+)"(?: aria-current="page")?>([^<]+)</a>\s*<form', box.group(0)
    )
    return {name: url.replace("&amp;", "&") for url, name in on_dashboard + on_list}


def test_a_saved_view_is_a_link_on_the_list_and_on_the_dashboard(
    login: Any, make_case: MakeCase
) -> None:
    late_high = make_case("flagged", priority="high", overdue=True)
    make_case("flagged", priority="low", overdue=True)
    make_case("flagged", priority="high")
    client = login("analyst")

    response = save(client, "Late and high", "queue=overdue&priority=high&o=-7&p=2")

    assert response.redirect_chain[-1][0] == f"{LIST}?queue=overdue&priority=high&o=-7"
    assert 'Saved the view "Late and high". Left out, as a saved view keeps none: p.' in (
        messages_of(response)
    )
    view = SavedView.objects.get()
    assert (view.user.username, view.name) == ("analyst", "Late and high")
    assert view.query == "queue=overdue&priority=high&o=-7"
    on_list = links(client.get(LIST).content.decode())
    on_dashboard = links(client.get("/admin/").content.decode())
    assert on_list == {"Late and high": f"{LIST}?queue=overdue&priority=high&o=-7"}
    assert on_dashboard["Late and high"] == f"{LIST}?queue=overdue&priority=high&o=-7"
    listed = client.get(on_list["Late and high"])
    assert [c.pk for c in listed.context["cl"].result_list] == [late_high.pk]
    # The list that the view shows marks it as the current one.
    assert 'aria-current="page">Late and high</a>' in listed.content.decode()


def test_the_saved_query_keeps_only_what_the_list_accepts(login: Any, make_case: MakeCase) -> None:
    client = login("investigator")
    query = (
        "p=3&_changelist_filters=queue%3Dmine&foo=bar&e=1&all=&_popup=1"
        "&state=flagged&state=suspended&q=+acme.test+&priority=&o=2.-4&assignee=none"
    )

    response = save(client, "  Mine,\tsuspended  ", query)

    view = SavedView.objects.get()
    assert view.name == "Mine, suspended"
    assert parse_qsl(view.query) == [
        ("state", "suspended"),  # the last value, the one the list uses
        ("assignee", "none"),
        ("q", "acme.test"),
        ("o", "2.-4"),
    ]
    assert any(
        "Left out, as a saved view keeps none: p, _changelist_filters, foo, e, all and 1 more." in m
        for m in messages_of(response)
    )


def test_every_parameter_of_the_case_list_can_be_saved() -> None:
    """A filter added to the list without a place in LIST_PARAMS would be dropped from every
    saved view without a word: this fails first."""
    case_admin = admin.site._registry[Case]
    names = {f.parameter_name for f in case_admin.list_filter}  # type: ignore[union-attr]  # all SimpleListFilters
    assert names | {"q", "o"} == set(LIST_PARAMS)
    assert names == {"queue", "state", "priority", "assignee"}


@pytest.mark.parametrize(
    ("name", "query", "why"),
    [
        ("", "queue=overdue", "A saved view needs a name."),
        (" \t ", "queue=overdue", "A saved view needs a name."),
        ("x" * 81, "queue=overdue", "at most 80 characters"),
        ("late\x00", "queue=overdue", "cannot hold control characters"),
        ("Bogus state", "state=bogus", "does not know the value of state"),
        ("Bogus queue", "queue=everything&priority=urgent", "value of queue, priority"),
        ("Odd order", "o=name", "value of o"),
        ("Odd assignee", "assignee=alice", "value of assignee"),
        ("Long search", "q=" + "a" * 201, "value of q"),
        ("NUL search", "q=%00", "value of q"),
        ("Huge", "foo=" + "x" * 5000, "longer than 4000 characters"),
        ("Taken", "queue=mine", "You have a saved view named"),
        ("TAKEN", "queue=mine", "You have a saved view named"),
    ],
)
def test_bad_input_is_a_message_and_saves_nothing(
    login: Any, users: dict[str, User], name: str, query: str, why: str
) -> None:
    saved_view_create(user=users["analyst"], name="Taken", query="queue=overdue")
    before = list(SavedView.objects.values())
    client = login("analyst")

    response = save(client, name, query)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith(LIST)
    errors = [m for m in messages_of(response) if m.startswith("No view was saved: ")]
    assert len(errors) == 1 and why in errors[0], messages_of(response)
    assert list(SavedView.objects.values()) == before


def test_a_refused_save_goes_back_to_the_list_the_person_was_on(login: Any) -> None:
    client = login("analyst")

    response = client.post(SAVE, {"name": "", "query": "queue=overdue&x=1\r\nSet-Cookie: a"})

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == LIST
    assert parse_qsl(target.query) == [("queue", "overdue"), ("x", "1\r\nSet-Cookie: a")]
    assert "\n" not in response["Location"]
    assert SavedView.objects.exists() is False


def test_views_are_private_to_their_owner(login: Any, users: dict[str, User]) -> None:
    mine = saved_view_create(user=users["analyst"], name="Overdue", query="queue=overdue")
    client = login("investigator")

    on_list = client.get(LIST).content.decode()
    on_dashboard = client.get("/admin/").content.decode()
    refused = client.post(delete_url(mine), {"query": ""}, follow=True)
    same_name = save(client, "Overdue", "queue=unassigned")

    assert links(on_list) == {} and "Overdue</a>" not in on_list.split('id="ts-saved-views"')[1]
    assert "Overdue" not in links(on_dashboard)
    assert f"No view was deleted: You have no saved view #{mine.pk}." in messages_of(refused)
    assert SavedView.objects.filter(pk=mine.pk, user=users["analyst"]).exists()
    # Names are unique per person only: the investigator has an "Overdue" of their own.
    assert 'Saved the view "Overdue".' in messages_of(same_name)
    assert sorted(SavedView.objects.values_list("user__username", "query")) == [
        ("analyst", "queue=overdue"),
        ("investigator", "queue=unassigned"),
    ]


def test_a_person_deletes_their_own_view(login: Any, users: dict[str, User]) -> None:
    gone = saved_view_create(user=users["lead"], name="Critical", query="priority=critical")
    kept = saved_view_create(user=users["lead"], name="Mine", query="queue=mine")
    client = login("lead")

    response = client.post(delete_url(gone), {"query": "queue=mine"}, follow=True)
    again = client.post(delete_url(gone), {"query": ""}, follow=True)

    assert response.redirect_chain[-1][0] == f"{LIST}?queue=mine"
    assert 'Deleted the saved view "Critical".' in messages_of(response)
    assert f"No view was deleted: You have no saved view #{gone.pk}." in messages_of(again)
    assert list(SavedView.objects.values_list("pk", flat=True)) == [kept.pk]
    assert links(client.get(LIST).content.decode()) == {"Mine": f"{LIST}?queue=mine"}


def test_a_get_saves_and_deletes_nothing(login: Any, users: dict[str, User]) -> None:
    view = saved_view_create(user=users["analyst"], name="Mine", query="queue=mine")
    client = login("analyst")

    saving = client.get(SAVE, {"name": "Sneaky", "query": "queue=overdue"})
    deleting = client.get(delete_url(view))

    assert (saving.status_code, deleting.status_code) == (302, 302)
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Mine"]


def test_the_forms_need_the_csrf_token(users: dict[str, User]) -> None:
    view = saved_view_create(user=users["analyst"], name="Mine", query="queue=mine")
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["analyst"])

    page = client.get(LIST).content.decode()
    saving = client.post(SAVE, {"name": "Forged", "query": "queue=overdue"})
    deleting = client.post(delete_url(view), {"query": ""})

    assert (saving.status_code, deleting.status_code) == (403, 403)
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Mine"]
    # The list's own forms carry the token: posted as the page has them, they work.
    token = re.search(
        r'id="ts-saved-view-save".*?name="csrfmiddlewaretoken" value="([^"]+)"', page, re.S
    )
    assert token is not None
    posted = client.post(SAVE, {"name": "Real", "query": "", "csrfmiddlewaretoken": token.group(1)})
    assert posted.status_code == 302
    assert SavedView.objects.filter(name="Real", query="").exists()


def test_an_auditor_keeps_views_and_changes_nothing_else(login: Any, make_case: MakeCase) -> None:
    """The one write an auditor may make in the admin is their own preference: saving and
    deleting a view leaves every other row as it was (the snapshot of
    test_auditor_reads_only, which exempts these two URLs for this reason)."""
    make_case("suspended", overdue=True)
    make_case("investigated")
    client = login("auditor")
    before = snapshot()

    saved = save(client, "Late", "queue=overdue&state=suspended")
    view = SavedView.objects.get()
    shown = links(client.get(LIST).content.decode())
    deleted = client.post(delete_url(view), {"query": ""}, follow=True)

    assert 'Saved the view "Late".' in messages_of(saved)
    assert shown == {"Late": f"{LIST}?queue=overdue&state=suspended"}
    assert 'Deleted the saved view "Late".' in messages_of(deleted)
    assert snapshot() == before  # saved views included: the one made is gone again


def test_an_auditors_view_in_the_snapshot_is_the_only_difference(
    login: Any, make_case: MakeCase
) -> None:
    make_case("flagged")
    client = login("auditor")
    before = snapshot()

    save(client, "Everything", "queue=all")

    after = snapshot()
    assert after.pop("cases.SavedView") == [
        {**SavedView.objects.values().get(), "name": "Everything", "query": "queue=all"}
    ]
    before.pop("cases.SavedView")
    assert after == before


def test_a_person_keeps_a_bounded_number_of_views(login: Any, users: dict[str, User]) -> None:
    for n in range(SAVED_VIEWS_PER_USER):
        saved_view_create(user=users["analyst"], name=f"view {n}", query="")
    client = login("analyst")

    response = save(client, "one more", "queue=mine")

    assert any(f"You have {SAVED_VIEWS_PER_USER} saved views" in m for m in messages_of(response))
    assert SavedView.objects.count() == SAVED_VIEWS_PER_USER


def test_views_go_with_their_user(users: dict[str, User]) -> None:
    saved_view_create(user=users["analyst"], name="Mine", query="queue=mine")
    saved_view_create(user=users["lead"], name="Mine", query="queue=mine")

    users["analyst"].delete()

    assert list(SavedView.objects.values_list("user__username", flat=True)) == ["lead"]


def test_a_saved_assignee_view_narrows_the_queue(
    login: Any, make_case: MakeCase, users: dict[str, User], actors: dict[str, Actor]
) -> None:
    theirs = make_case("flagged", overdue=True)
    case_assign(case=theirs, assignee=users["investigator"], actor=actors["lead"])
    make_case("flagged", overdue=True)  # overdue, nobody's
    mine = make_case("flagged")
    case_assign(case=mine, assignee=users["investigator"], actor=actors["lead"])
    client = login("lead")

    save(client, "Their late ones", f"queue=overdue&assignee={users['investigator'].pk}")
    listed = client.get(links(client.get(LIST).content.decode())["Their late ones"])

    assert [c.pk for c in listed.context["cl"].result_list] == [theirs.pk]
