"""Evidence through the API: adding a file (multipart), listing, downloading (logged) and one
item's record with its chain of custody."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Account
from cases.models import CaseEvent, CustodyEvent, EvidenceItem
from tests.cases.services.helpers import case_in_state

from .conftest import API, ApiCaller, problem


def post_file(
    caller: ApiCaller, case_id: int, content: bytes = b'{"rpm": 9000}', **fields: Any
) -> Any:
    body: dict[str, Any] = {
        "file": SimpleUploadedFile("rpm.json", content, content_type="application/json"),
        **fields,
    }
    return caller.client.post(f"{API}/cases/{case_id}/evidence", body, headers=caller.headers)


@pytest.mark.django_db
def test_a_file_posted_is_listed_downloaded_and_its_download_logged(
    api: ApiCaller, account: Account, policies: Any
) -> None:
    case = case_in_state(account, "suspended")
    content = b'{"rpm": 9000}'

    response = post_file(api, case.pk, content, description="rate limiter export")

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["sha256"] == hashlib.sha256(content).hexdigest()
    assert (created["size"], created["media_type"], created["kind"]) == (
        len(content),
        "application/json",
        "upload",
    )
    assert [c["action"] for c in created["custody"]] == ["acquired"]
    listed = api.get(f"/cases/{case.pk}/evidence").json()["results"]
    assert [i["kind"] for i in listed] == ["snapshot", "upload"]
    assert listed[0]["event"] == CaseEvent.objects.get(case=case, action="suspend").seq

    download = api.client.get(
        f"{API}/evidence/{created['id']}", {"reason": "appeal review"}, headers=api.headers
    )

    assert download.status_code == 200
    assert b"".join(download.streaming_content) == content
    assert download["Content-Type"] == "application/json"
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
    assert download["Repr-Digest"] == f"sha-256=:{digest}:"
    assert "attachment" in download["Content-Disposition"]
    record = api.get(f"/evidence/{created['id']}/record").json()
    assert [(c["seq"], c["action"], c["reason"]) for c in record["custody"]] == [
        (1, "acquired", "rate limiter export"),
        (2, "downloaded", "appeal review"),
    ]
    assert record["custody"][1]["prev_hash"] == record["custody"][0]["hash"]


@pytest.mark.django_db
def test_a_download_with_any_accept_header_is_served(
    api: ApiCaller, account: Account, policies: Any
) -> None:
    case = case_in_state(account, "flagged")
    created = post_file(api, case.pk).json()

    download = api.client.get(
        f"{API}/evidence/{created['id']}",
        headers={**api.headers, "Accept": "application/octet-stream"},
    )

    assert download.status_code == 200


@pytest.mark.django_db
def test_a_post_without_a_file_is_a_problem_and_writes_nothing(
    api: ApiCaller, account: Account, policies: Any
) -> None:
    case = case_in_state(account, "flagged")
    events = CaseEvent.objects.filter(case=case).count()

    response = api.client.post(
        f"{API}/cases/{case.pk}/evidence", {"description": "no file"}, headers=api.headers
    )

    problem(response, 422)
    assert EvidenceItem.objects.exists() is False
    assert CustodyEvent.objects.exists() is False
    assert CaseEvent.objects.filter(case=case).count() == events


@pytest.mark.django_db
def test_an_empty_file_is_refused_and_writes_nothing(
    api: ApiCaller, account: Account, policies: Any
) -> None:
    case = case_in_state(account, "flagged")

    problem(post_file(api, case.pk, b""), 422)

    assert EvidenceItem.objects.exists() is False


@pytest.mark.django_db
def test_a_json_body_is_refused_as_unsupported(
    api: ApiCaller, account: Account, policies: Any
) -> None:
    case = case_in_state(account, "flagged")

    problem(api.post(f"/cases/{case.pk}/evidence", {"file": "x"}), 415)

    assert EvidenceItem.objects.exists() is False


@pytest.mark.django_db
def test_evidence_of_an_unknown_case_or_item_is_not_found(api: ApiCaller) -> None:
    problem(api.get("/cases/999999/evidence"), 404)
    problem(post_file(api, 999999), 404, "not_found")
    problem(api.get("/evidence/999999"), 404, "evidence_not_found")
    problem(api.get("/evidence/999999/record"), 404, "evidence_not_found")
    assert EvidenceItem.objects.exists() is False


@pytest.mark.django_db
def test_a_reader_key_downloads_but_may_not_add(
    make_caller: Callable[..., ApiCaller], api: ApiCaller, account: Account, policies: Any
) -> None:
    case = case_in_state(account, "flagged")
    created = post_file(api, case.pk).json()
    reader = make_caller("cases:read", role="auditor")

    problem(post_file(reader, case.pk, b"more"), 403)
    download = reader.client.get(f"{API}/evidence/{created['id']}", headers=reader.headers)
    assert download.status_code == 200
    assert EvidenceItem.objects.filter(case=case).count() == 1
    last = CustodyEvent.objects.order_by("-seq").first()
    assert last is not None
    assert (last.action, last.actor_label) == ("downloaded", reader_label(reader))


def reader_label(caller: ApiCaller) -> str:
    from accounts.models import ApiClient

    client = ApiClient.objects.order_by("-id").first()
    assert client is not None
    return f"api:{client.name}"
