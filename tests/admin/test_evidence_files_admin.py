"""Evidence files on the case page: uploaded by investigators and leads, each shown with its
SHA-256; opened (text, JSON, images previewed) or downloaded from its page, each time a custody
event with its reason, and never when the stored content no longer has its hash."""

from __future__ import annotations

import base64
import io
import os
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile

from cases.evidence_store import evidence_storage
from cases.models import CustodyEvent, EvidenceItem
from cases.services.evidence import EvidenceUpload, evidence_item_add
from core.actors import Actor
from tests.admin.conftest import MakeCase, change_url, messages_of

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
)


def add(case: Any, actors: dict[str, Actor], content: bytes, name: str) -> EvidenceItem:
    return evidence_item_add(
        case=case.pk,
        upload=EvidenceUpload(content=io.BytesIO(content), name=name),
        actor=actors["investigator"],
    )


def item_url(item: EvidenceItem) -> str:
    return f"/admin/cases/case/{item.case_id}/evidence-files/{item.pk}/"


def custody(item: EvidenceItem) -> list[tuple[str, str, str]]:
    return list(
        CustodyEvent.objects.filter(item=item)
        .order_by("seq")
        .values_list("action", "actor_label", "reason")
    )


def test_an_investigator_uploads_a_file_shown_with_its_hash(
    login: Any, make_case: MakeCase
) -> None:
    case = make_case("flagged")
    client = login("investigator")
    page = client.get(change_url(case)).content.decode()
    assert "ts-evidence-file-form" in page

    response = client.post(
        f"/admin/cases/case/{case.pk}/evidence-files/",
        {"file": SimpleUploadedFile("log.txt", b"GET /v1/models 429\n"), "description": "gw"},
        follow=True,
    )

    item = EvidenceItem.objects.get(case=case)
    assert (item.name, item.media_type, item.size) == ("log.txt", "text/plain", 19)
    assert any(item.sha256 in m for m in messages_of(response))
    page = client.get(change_url(case)).content.decode()
    assert f'id="ts-evidence-file-{item.pk}"' in page and item.sha256 in page


def test_an_empty_file_is_refused_with_a_message(login: Any, make_case: MakeCase) -> None:
    case = make_case("flagged")
    response = login("lead").post(
        f"/admin/cases/case/{case.pk}/evidence-files/",
        {"file": SimpleUploadedFile("empty.txt", b"")},
        follow=True,
    )
    assert any(m.startswith("No file was added") for m in messages_of(response))
    assert not EvidenceItem.objects.filter(case=case).exists()


def test_an_auditor_reads_but_does_not_upload(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    case = make_case("flagged")
    item = add(case, actors, b"line\n", "a.txt")
    client = login("auditor")
    assert "ts-evidence-file-form" not in client.get(change_url(case)).content.decode()
    response = client.post(
        f"/admin/cases/case/{case.pk}/evidence-files/",
        {"file": SimpleUploadedFile("x.txt", b"x")},
    )
    assert response.status_code == 403
    assert EvidenceItem.objects.filter(case=case).count() == 1
    # Reading is recorded like anyone's.
    client.post(item_url(item), {"view": "1", "reason": "quarterly audit"})
    assert custody(item)[-1] == ("viewed", "auditor", "quarterly audit")


def test_the_item_page_shows_the_record_and_opening_it_is_recorded(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    case = make_case("flagged")
    item = add(case, actors, b"<script>alert(1)</script>\n", "page.txt")
    client = login("lead")

    page = client.get(item_url(item)).content.decode()
    assert item.sha256 in page and "alert(1)" not in page
    assert len(custody(item)) == 1  # looking at the record is not opening the content

    page = client.post(item_url(item), {"view": "1", "reason": "appeal 4"}).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert custody(item)[-1] == ("viewed", "lead", "appeal 4")


def test_json_is_pretty_printed_and_images_are_shown(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    case = make_case("flagged")
    data = add(case, actors, b'{"b":1,"a":[1,2]}', "s.json")
    image = add(case, actors, PNG, "p.png")
    blob = add(case, actors, b"\x00\x01", "b.bin")
    client = login("investigator")

    page = client.post(item_url(data), {"view": "1"}).content.decode()
    assert "{\n  &quot;a&quot;: [\n    1,\n    2\n  ],\n  &quot;b&quot;: 1\n}" in page
    page = client.post(item_url(image), {"view": "1"}).content.decode()
    assert 'src="data:image/png;base64,' in page
    page = client.post(item_url(blob), {"view": "1"}).content.decode()
    assert "No preview for application/octet-stream" in page


def test_downloading_streams_the_file_and_is_recorded(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    case = make_case("flagged")
    item = add(case, actors, b"row 1\n", "export.csv")

    response = login("lead").post(item_url(item), {"download": "1", "reason": "court order 9"})

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"row 1\n"
    assert response["Content-Disposition"] == "attachment; filename*=UTF-8''export.csv"
    assert custody(item)[-1] == ("downloaded", "lead", "court order 9")


def test_changed_content_is_not_shown_and_nothing_is_recorded(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    case = make_case("flagged")
    item = add(case, actors, b"original\n", "a.txt")
    path = evidence_storage().path(item.storage_name)
    os.chmod(path, 0o600)
    with open(path, "wb") as handle:
        handle.write(b"tampered\n")

    response = login("lead").post(item_url(item), {"view": "1"}, follow=True)

    assert any(m.startswith("Nothing was opened") for m in messages_of(response))
    assert "tampered" not in response.content.decode()
    assert len(custody(item)) == 1


def test_an_item_of_another_case_is_not_found(
    login: Any, make_case: MakeCase, actors: dict[str, Actor]
) -> None:
    item = add(make_case("flagged"), actors, b"x\n", "a.txt")
    other = make_case("flagged")
    response = login("lead").get(f"/admin/cases/case/{other.pk}/evidence-files/{item.pk}/")
    assert response.status_code == 404
