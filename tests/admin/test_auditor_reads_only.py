"""Acceptance 5: an auditor sees everything and can change nothing, over every admin URL and
every action: each registered model's list, add, change and delete pages, every custom URL of
the model admins (transitions, notes, approvals, appeals ...) and every bulk action, posted as
a forged form. Each page an auditor may read opens; each write is refused, and the database is
the same afterwards, row for row."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model
from django.urls import URLPattern

from accounts.models import Account
from cases.admin.forms import TRANSITION_FORMS
from cases.models import (
    Appeal,
    ApprovalRequest,
    CannedReason,
    CaseNote,
    CustodyEvent,
    Decision,
    EvidenceItem,
    RemediationItem,
)
from cases.services import canned_reason_save, case_note_add
from cases.services.evidence import EvidenceUpload, evidence_item_add
from tests.admin.conftest import MakeCase

STANDARD = ("changelist", "add", "change", "delete", "history", "autocomplete")
# The one write open to an auditor: their own saved views of the case list. A saved view is a
# person's preference, not a change to any record, so these URLs are left out of the forged
# posts below; tests/admin/test_saved_views.py shows that an auditor's saving and deleting
# one changes no other row (the same snapshot).
OWN_PREFERENCES = ("cases_case_saved_view_save", "cases_case_saved_view_delete")
# Reads that are recorded: opening an evidence file (to view or download it) is a custody event
# of the reader, an auditor's like anyone's (tests/admin/test_evidence_files_admin.py). Posted
# below as every other URL is; the custody events they add are the one difference allowed.
RECORDED_READS = ("cases_case_evidence_item",)
FORGED = {
    "expected_state": "investigated",
    "reason": "forged",
    "findings": "forged",
    "violation_confirmed": "yes",
    "verification_note": "forged",
    "rationale": "forged",
    "body": "forged",
    "reference": "forged://1",
    "note": "forged",
    "take": "1",
    "priority": "critical",
    "outcome": "overturned",
    "comment": "forged",
    "approve": "1",
    "_save": "Save",
    "post": "yes",
    "confirm": "1",
    "apply": "1",
}


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every row of every model, as values: what "nothing changed" is compared with."""
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in ("sessions", "admin"):
            continue  # the login itself and Django's change log of other people
        rows[model._meta.label] = list(model._default_manager.order_by("pk").values())
    return rows


@pytest.fixture
def world(make_case: MakeCase, actors: dict[str, Any]) -> dict[str, Any]:
    """A little of everything, so that each model has a row to open."""
    investigated = make_case("investigated")
    case_note_add(case=investigated.pk, body="a note", actor=actors["analyst"])
    evidence_item_add(
        case=investigated.pk,
        upload=EvidenceUpload(content=io.BytesIO(b"request log\n"), name="log.txt"),
        actor=actors["investigator"],
    )
    make_case("terminated")
    make_case("dismissed")
    make_case("flagged")
    canned_reason_save(
        canned_reason=None,
        title="False alarm",
        text="The signals were a false alarm.",
        actions=["dismiss"],
        active=True,
        actor=actors["lead"],
    )
    return {"case": investigated}


def first_pk(model: type[Model]) -> Any:
    return model._default_manager.order_by("pk").values_list("pk", flat=True).first()


def custom_urls() -> list[tuple[type[Model], URLPattern]]:
    """Every URL the model admins add to Django's own, but the auditor's own preferences."""
    found = []
    exempt = []
    for model, model_admin in admin.site._registry.items():
        for pattern in model_admin.get_urls():
            name = pattern.name or ""
            if name in OWN_PREFERENCES:
                exempt.append(name)
            elif isinstance(pattern, URLPattern) and not name.endswith(STANDARD):
                found.append((model, pattern))
    assert sorted(exempt) == sorted(OWN_PREFERENCES)  # an exemption names real URLs only
    return found


def fill(model: type[Model], route: str, pk: Any) -> list[str]:
    """The paths a route stands for: its object, and every transition for ``<action>``."""
    related = {
        "note_id": first_pk(CaseNote),
        "evidence_id": 1,
        "item_id": (
            first_pk(EvidenceItem) if "evidence-files" in route else first_pk(RemediationItem)
        ),
        "account_id": pk if model is Account else first_pk(Account),
        "other_id": first_pk(Account),
    }
    opts = model._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/"
    path = route.replace("<path:object_id>", str(pk))
    for key, value in related.items():
        path = path.replace(f"<int:{key}>", str(value))
    if "<str:action>" in path:
        return [base + path.replace("<str:action>", a) for a in TRANSITION_FORMS]
    assert "<" not in path, path
    return [base + path]


def registered() -> list[tuple[type[Model], Any]]:
    """The model admins of the service; users and groups are the administrators' pages,
    which no role (the auditor's included) has."""
    return [(m, a) for m, a in admin.site._registry.items() if m._meta.app_label != "auth"]


def test_an_auditor_opens_every_list_and_every_object(login: Any, world: Any) -> None:
    client = login("auditor")
    for model, _model_admin in registered():
        opts = model._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        assert client.get(base).status_code == 200, base
        pk = first_pk(model)
        if pk is not None:
            page = client.get(f"{base}{pk}/change/")
            assert page.status_code == 200, base
            html = page.content.decode()
            assert 'name="_save"' not in html, base
            assert not re.search(r'class="deletelink"', html), base


def test_an_auditor_changes_nothing_through_any_admin_url(login: Any, world: Any) -> None:
    client = login("auditor")
    before = snapshot()
    refused: list[str] = []
    for model, model_admin in admin.site._registry.items():  # auth too: refused as well
        opts = model._meta
        base = f"/admin/{opts.app_label}/{opts.model_name}/"
        pk = first_pk(model)
        posts = [f"{base}add/"]
        if pk is not None:
            posts += [f"{base}{pk}/change/", f"{base}{pk}/delete/"]
        for url in posts:
            status = client.post(url, FORGED).status_code
            assert status in (302, 403, 404), (url, status)
            refused.append(url)
        # Every bulk action the admin has, for anyone: none is offered to an auditor, and a
        # forged one is refused.
        assert model_admin.get_actions(_request(client, base)) == {}, base
        for action in model_admin.actions or ():
            name = action if isinstance(action, str) else action.__name__
            ids = list(model._default_manager.values_list("pk", flat=True)[:3])
            response = client.post(base, {**FORGED, "action": name, ACTION_CHECKBOX_NAME: ids})
            assert response.status_code in (200, 302, 403), (base, name)
            refused.append(f"{base} action {name}")
    statuses: dict[str, int] = {}
    for model, pattern in custom_urls():
        pk = first_pk(model)
        if pk is None:
            continue
        for url in fill(model, str(pattern.pattern), pk):
            statuses[url] = client.post(url, FORGED).status_code
            if pattern.name in RECORDED_READS:
                for opening in ("view", "download"):
                    client.post(url, {**FORGED, opening: "1", "reason": "audit"})
                continue
            assert statuses[url] in (302, 403, 405), (url, statuses[url])
            refused.append(url)

    after = snapshot()
    custody_before = {row["id"] for row in before.pop(CustodyEvent._meta.label)}
    read = [r for r in after.pop(CustodyEvent._meta.label) if r["id"] not in custody_before]
    # The forged post (it carries a reason) is a view too: three reads, each the auditor's.
    assert [(r["action"], r["actor_label"]) for r in read] == [
        ("viewed", "auditor"),
        ("viewed", "auditor"),
        ("downloaded", "auditor"),
    ]
    assert after == before
    # Every custom URL was reached (none answered "no such page"), the recorded read included.
    assert all(status != 404 for status in statuses.values()), statuses
    assert any("/evidence-files/" in u for u in statuses)
    assert any("/transition/terminate/" in u for u in refused)
    assert any("/approvalrequest/" in u for u in refused) or not ApprovalRequest.objects.exists()
    assert any("/decide/" in u for u in refused) or not Appeal.objects.exists()
    assert any("/decision/" in u for u in refused) and Decision.objects.exists()
    assert any("/cannedreason/" in u for u in refused) and CannedReason.objects.exists()


def _request(client: Any, path: str) -> Any:
    response = client.get(path)
    return response.wsgi_request
