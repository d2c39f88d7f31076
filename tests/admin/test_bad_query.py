"""A NUL character in any query parameter of an admin page (a filter, the search, anything) is
dropped with a message on the page, never a 500."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.contrib import admin
from django.test import Client

from config.admin_query import DROPPED
from tests.admin.conftest import MakeCase

LISTS = sorted(
    f"/admin/{model._meta.app_label}/{model._meta.model_name}/" for model in admin.site._registry
)


@pytest.mark.parametrize("role", ["analyst", "auditor", "lead"])
@pytest.mark.parametrize(
    ("url", "query"),
    [
        ("/admin/cases/case/", "state=%00"),
        ("/admin/cases/case/", "priority=%00"),
        ("/admin/cases/case/", "q=%00"),
        ("/admin/cases/caseevent/", "action=%00"),
        ("/admin/notifications/notice/", "event=%00"),
        ("/admin/accounts/account/", "enforcement_status__exact=%00"),
    ],
)
def test_a_nul_in_an_admin_filter_is_a_message_not_a_500(
    login: Any, make_case: MakeCase, role: str, url: str, query: str
) -> None:
    make_case("suspended")
    client = login(role)
    response = client.get(f"{url}?{query}&o=1")
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == url
    assert parse_qsl(target.query) == [("o", "1")]
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert DROPPED in page.content.decode()


@pytest.mark.parametrize("url", LISTS)
def test_every_admin_list_drops_a_nul_in_any_parameter(
    client: Client, django_user_model: Any, url: str
) -> None:
    client.force_login(django_user_model.objects.create_superuser("root", "root@tns.example"))
    for query in ("q=%00", "x%00=1", "p=%00"):
        response = client.get(f"{url}?{query}", follow=True)
        assert response.status_code == 200, (url, query)
        assert response.redirect_chain[0] == (url, 302)
        assert DROPPED in response.content.decode()
