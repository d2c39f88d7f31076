"""``GET /api/v1/cases/{id}/notices``: a case's notices with their deliveries.

Authentication, permissions and the problem-details error format are the API's, wired in by
``config``; this view only names what it needs, ``scopes`` (the scope per HTTP method:
``cases:read``, which staff hold from the auditor role up), and keeps DRF's default permission
classes so that the project-wide permission class reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.choices import Scope
from config.api import CursorPage
from notifications.errors import NoticeNotFound
from notifications.models import Notice
from notifications.selectors import case_notices_list

from .serializers import NoticeSerializer

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NoticeCursorPagination(CursorPage):
    """Oldest first. The position in a cursor is the edge notice's ``created_at`` as
    microseconds since the epoch (at most 17 digits: within the years a datetime holds)."""

    page_size = 100
    max_page_size = 500
    ordering = ("created_at", "id")
    position_pattern = r"0|[1-9][0-9]{0,16}"

    def _get_position_from_instance(self, instance: Any, ordering: Any) -> str:
        created: datetime = instance.created_at
        return created.astimezone(UTC).isoformat()

    def position_from_text(self, text: str) -> str:
        return (EPOCH + timedelta(microseconds=int(text))).isoformat()

    def position_to_text(self, position: str) -> str:
        return str((datetime.fromisoformat(position) - EPOCH) // timedelta(microseconds=1))


class CaseNoticesListApi(ListAPIView[Notice]):
    serializer_class = NoticeSerializer
    pagination_class = NoticeCursorPagination
    scopes = {"GET": Scope.CASES_READ}

    def get_queryset(self) -> QuerySet[Notice]:
        if getattr(self, "swagger_fake_view", False):
            return Notice.objects.none()
        case_id: Any = self.kwargs["case_id"]
        try:
            return case_notices_list(case_id=case_id)
        except NoticeNotFound as exc:
            raise Http404(exc.detail) from None

    @extend_schema(
        operation_id="cases_notices",
        summary="The case's notices with every delivery attempt, oldest first",
        tags=["cases"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
