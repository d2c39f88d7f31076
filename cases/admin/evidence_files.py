"""Evidence files on the case page (docs/security.md): each item with its SHA-256, size and
custody count; an upload form; and a page per item with its record and chain of custody, where
opening it (a preview of text, JSON and images) or downloading it is a custody event with the
reason given. The content is checked against its hash before anything of it is shown."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from django import forms
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.db.models import Count, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import reverse

from core.actors import Actor
from core.admin import refusal_in_words
from core.errors import DomainError
from core.roles import role_allows

from ..choices import CustodyAction
from ..evidence_store import content_chunks, content_read
from ..models import Case, EvidenceItem
from ..services.evidence import EvidenceUpload, evidence_item_add, evidence_item_open
from ..workflow import NOTE_MIN_ROLE

PREVIEW_TEXT_MAX = 256 * 1024  # characters of text shown; the rest is downloaded
PREVIEW_IMAGE_MAX = 5 * 1024 * 1024
# Raster images only: an SVG is a document that may carry script.
PREVIEW_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class EvidenceFileForm(forms.Form):
    file = forms.FileField(label="file")
    description = forms.CharField(required=False, max_length=2000, label="description")


class EvidenceOpenForm(forms.Form):
    reason = forms.CharField(
        required=False,
        max_length=500,
        label="why",
        help_text="Recorded on the item's chain of custody (a request, a matter, a review).",
    )


def evidence_files(case: Case, limit: int) -> QuerySet[EvidenceItem]:
    """The case's items, oldest first, each with its number of custody events (one query)."""
    return (
        EvidenceItem.objects.filter(case=case)
        .annotate(custody_count=Count("custody"))
        .order_by("acquired_at", "id")[:limit]
    )


def _item_url(case_id: int, item_id: int) -> str:
    return reverse("admin:cases_case_evidence_item", args=[case_id, item_id])


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def preview(item: EvidenceItem) -> dict[str, Any]:
    """What the page shows of the content: text, JSON pretty-printed, or a raster image."""
    media_type = item.media_type
    if media_type in PREVIEW_IMAGES and item.size <= PREVIEW_IMAGE_MAX:
        data = base64.b64encode(content_read(item.storage_name)).decode()
        return {"kind": "image", "src": f"data:{media_type};base64,{data}"}
    if media_type.startswith("text/") or _is_json(media_type):
        raw = content_read(item.storage_name)
        text = raw.decode("utf-8", errors="replace")
        if _is_json(media_type):
            try:
                text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False, sort_keys=True)
            except ValueError:
                pass
        return {
            "kind": "text",
            "text": text[:PREVIEW_TEXT_MAX],
            "truncated": len(text) > PREVIEW_TEXT_MAX,
        }
    return {"kind": "none"}


def _item_of(case: Case, item_id: int) -> EvidenceItem:
    item = EvidenceItem.objects.filter(case=case, pk=item_id).first()
    if item is None:
        raise Http404("No such evidence item on this case.")
    return item


def evidence_upload_view(model_admin: Any, request: HttpRequest, object_id: str) -> HttpResponse:
    """POST from the case page: store the file as evidence (investigators and leads)."""
    case = model_admin._case_for(request, object_id)
    actor: Actor = model_admin._actor(request)
    back = HttpResponseRedirect(model_admin._case_url(case) + "#ts-evidence-files")
    if request.method != "POST":
        return back
    form = EvidenceFileForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "No file was added: choose a file to upload.")
        return back
    upload = form.cleaned_data["file"]
    try:
        item = evidence_item_add(
            case=case.pk,
            upload=EvidenceUpload(
                content=upload,
                name=upload.name or "",
                media_type=upload.content_type or "",
                description=form.cleaned_data["description"],
            ),
            actor=actor,
        )
    except DomainError as exc:
        messages.error(request, f"No file was added: {refusal_in_words(exc)}")
        return back
    messages.success(request, f"{item.name} added as evidence (SHA-256 {item.sha256}).")
    return back


def evidence_item_view(
    model_admin: ModelAdmin[Any], request: HttpRequest, object_id: str, item_id: int
) -> HttpResponse | StreamingHttpResponse:
    """GET: the item's record and custody. POST ``view``: the preview; POST ``download``: the
    file. Either is a custody event first, and neither happens if the content changed."""
    case = model_admin._case_for(request, object_id)  # type: ignore[attr-defined]
    item = _item_of(case, item_id)
    shown: dict[str, Any] | None = None
    form = EvidenceOpenForm(request.POST or None)
    if request.method == "POST":
        actor = Actor.for_user(request.user)
        action = CustodyAction.DOWNLOADED if "download" in request.POST else CustodyAction.VIEWED
        if not form.is_valid():
            messages.error(request, "Nothing was opened: the reason is at most 500 characters.")
            return HttpResponseRedirect(_item_url(case.pk, item.pk))
        try:
            item = evidence_item_open(
                item_id=item.pk, actor=actor, action=action, reason=form.cleaned_data["reason"]
            )
        except DomainError as exc:
            messages.error(request, f"Nothing was opened: {refusal_in_words(exc)}")
            return HttpResponseRedirect(_item_url(case.pk, item.pk))
        if action == CustodyAction.DOWNLOADED:
            response = StreamingHttpResponse(
                content_chunks(item.storage_name), content_type=item.media_type
            )
            response["Content-Length"] = str(item.size)
            response["Content-Disposition"] = (
                f"attachment; filename*=UTF-8''{quote(item.name, safe='')}"
            )
            response["X-Content-Type-Options"] = "nosniff"
            return response
        shown = preview(item)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Evidence: {item.name}",
        "opts": model_admin.model._meta,
        "case": case,
        "item": item,
        "custody": list(item.custody.order_by("seq")),
        "form": form,
        "preview": shown,
        "case_url": reverse("admin:cases_case_change", args=[case.pk]),
    }
    return TemplateResponse(request, "admin/cases/case/evidence_item.html", context)


def evidence_panel_context(case: Case, role: str | None, limit: int) -> dict[str, Any]:
    items = list(evidence_files(case, limit))
    for item in items:
        item.page_url = _item_url(case.pk, item.pk)  # type: ignore[attr-defined]
    return {
        "evidence_files": items,
        "evidence_file_form": EvidenceFileForm() if role_allows(role, NOTE_MIN_ROLE) else None,
    }
