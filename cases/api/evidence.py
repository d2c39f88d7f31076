"""Evidence in the API: a case's items (files and snapshots), adding a file, downloading one
(a custody event each time) and one item's record with its chain of custody."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from django.core.validators import RegexValidator
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import request_actor
from accounts.choices import Scope
from config.api import StrictSerializer, TextField

from ..actions import MAX_TEXT
from ..choices import CustodyAction
from ..errors import EvidenceNotFound
from ..evidence_store import content_chunks
from ..models import Case, CustodyEvent, EvidenceItem
from ..selectors import evidence_item_get, evidence_items_of_case
from ..services.evidence import (
    MEDIA_TYPE,
    MEDIA_TYPE_MAX,
    EvidenceUpload,
    evidence_item_add,
    evidence_item_open,
)
from .views import ACTING_USER_PARAMETER


class CustodyEventSerializer(serializers.ModelSerializer[CustodyEvent]):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = CustodyEvent
        fields = ["seq", "at", "action", "actor", "reason", "prev_hash", "hash"]
        read_only_fields = fields

    def get_actor(self, event: CustodyEvent) -> dict[str, str]:
        return {"kind": event.actor_kind, "label": event.actor_label}


class EvidenceItemSerializer(serializers.ModelSerializer[EvidenceItem]):
    case = serializers.IntegerField(source="case_id", read_only=True)
    acquired_by = serializers.SerializerMethodField()
    event = serializers.SerializerMethodField(
        help_text="A snapshot: the seq of the timeline event whose decision it freezes."
    )
    download = serializers.SerializerMethodField()

    class Meta:
        model = EvidenceItem
        fields = [
            "id",
            "case",
            "kind",
            "name",
            "description",
            "media_type",
            "size",
            "sha256",
            "acquired_at",
            "acquired_by",
            "event",
            "download",
        ]
        read_only_fields = fields

    def get_acquired_by(self, item: EvidenceItem) -> dict[str, str]:
        return {"kind": item.actor_kind, "label": item.acquired_by}

    def get_event(self, item: EvidenceItem) -> int | None:
        return item.event.seq if item.event is not None else None

    def get_download(self, item: EvidenceItem) -> str:
        return f"/api/v1/evidence/{item.pk}"


class EvidenceRecordSerializer(EvidenceItemSerializer):
    custody = CustodyEventSerializer(many=True, read_only=True)

    class Meta(EvidenceItemSerializer.Meta):
        fields = [*EvidenceItemSerializer.Meta.fields, "custody"]
        read_only_fields = fields


class MediaTypeField(TextField):
    """A media type without parameters (``type/subtype``): the schema's pattern is the one the
    service checks, so that whatever the schema admits is stored."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(
            RegexValidator(MEDIA_TYPE, "'media_type' must be a media type such as text/plain.")
        )

    @property
    def pattern(self) -> str:
        return MEDIA_TYPE.pattern


@extend_schema_field({"type": "string", "format": "binary", "minLength": 1})
class EvidenceFileField(serializers.FileField):
    """The uploaded content: not empty (an empty file is a 422), which the schema says."""


class EvidenceUploadSerializer(StrictSerializer):
    file = EvidenceFileField(help_text="The content; its name is the item's name.")
    description = TextField(required=False, allow_blank=True, default="", max_length=MAX_TEXT)
    media_type = MediaTypeField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MEDIA_TYPE_MAX,
        help_text="Else the part's Content-Type, else guessed from the name.",
    )


class AnyAcceptNegotiation(BaseContentNegotiation):
    """A download streams the content as stored whatever ``Accept`` says; a refusal is still a
    problem document (the view's one renderer)."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


def _case_or_404(case_id: int) -> None:
    if not Case.objects.filter(pk=case_id).exists():
        raise exceptions.NotFound(f"No case {case_id}.")


class CaseEvidenceApi(APIView):
    scopes = {"GET": Scope.CASES_READ, "POST": Scope.CASES_WRITE}
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="cases_evidence_list",
        summary="The case's evidence items, oldest first (snapshots with kind snapshot)",
        responses={
            200: inline_serializer(
                name="EvidenceItemList", fields={"results": EvidenceItemSerializer(many=True)}
            )
        },
        parameters=[ACTING_USER_PARAMETER],
        tags=["evidence"],
    )
    def get(self, request: Request, case_id: int) -> Response:
        _case_or_404(case_id)
        items = evidence_items_of_case(case_id=case_id)
        return Response({"results": EvidenceItemSerializer(items, many=True).data})

    @extend_schema(
        operation_id="cases_evidence_add",
        summary="Add a file as evidence (multipart/form-data)",
        description=(
            "Stored once, never overwritten; the answer carries its SHA-256 and size. An empty "
            "file, a bad name or media type: 422. Larger than the API's body limit: 413."
        ),
        request={"multipart/form-data": EvidenceUploadSerializer},
        responses={201: EvidenceRecordSerializer},
        parameters=[ACTING_USER_PARAMETER],
        tags=["evidence"],
    )
    def post(self, request: Request, case_id: int) -> Response:
        body = EvidenceUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        item = evidence_item_add(
            case=case_id,
            upload=EvidenceUpload(
                content=upload,
                name=upload.name or "",
                media_type=body.validated_data["media_type"] or upload.content_type or "",
                description=body.validated_data["description"],
            ),
            actor=request_actor(request),
        )
        record = evidence_item_get(item_id=item.pk)
        return Response(EvidenceRecordSerializer(record).data, status=status.HTTP_201_CREATED)


REASON_PARAMETER = OpenApiParameter(
    "reason",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Why the item is opened: recorded on its chain of custody (up to 500 characters).",
)


class EvidenceDownloadApi(APIView):
    scopes = {"GET": Scope.CASES_READ}
    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(
        operation_id="evidence_download",
        summary="Download an evidence item's content (recorded on its chain of custody)",
        description=(
            "The content as stored, with `Repr-Digest: sha-256=:…:` (RFC 9530). The stored "
            "content is checked against the item's SHA-256 first: a mismatch is a 409 "
            "`evidence_corrupted` and nothing is served."
        ),
        responses={
            # A JSON item (a snapshot, say) is served as JSON: any JSON value. Anything else is
            # its bytes as stored.
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.ANY, description="In the media type the item was stored with."
            ),
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY, description="In the media type the item was stored with."
            ),
        },
        parameters=[REASON_PARAMETER, ACTING_USER_PARAMETER],
        tags=["evidence"],
    )
    def get(self, request: Request, item_id: int) -> StreamingHttpResponse:
        item = evidence_item_open(
            item_id=item_id,
            actor=request_actor(request),
            action=CustodyAction.DOWNLOADED,
            reason=request.query_params.get("reason", ""),
        )
        response = StreamingHttpResponse(
            content_chunks(item.storage_name), content_type=item.media_type
        )
        response["Content-Length"] = str(item.size)
        response["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quoted(item.name)}"
        digest = base64.b64encode(bytes.fromhex(item.sha256)).decode()
        response["Repr-Digest"] = f"sha-256=:{digest}:"
        response["X-Content-Type-Options"] = "nosniff"
        return response


def _quoted(name: str) -> str:
    return quote(name, safe="")


class EvidenceRecordApi(APIView):
    scopes = {"GET": Scope.CASES_READ}

    @extend_schema(
        operation_id="evidence_get",
        summary="An evidence item's record with its chain of custody",
        responses={200: EvidenceRecordSerializer},
        parameters=[ACTING_USER_PARAMETER],
        tags=["evidence"],
    )
    def get(self, request: Request, item_id: int) -> Response:
        item = evidence_item_get(item_id=item_id)
        if item is None:
            raise EvidenceNotFound(detail=f"Evidence {item_id} does not exist.")
        return Response(EvidenceRecordSerializer(item).data)
