"""``GET /api/v1/cases/{id}/notices``: a case's notices with their deliveries.

Authentication, permissions and the problem-details error format are the API's, wired in by
``config``; this view only names what it needs, ``scopes`` (the scope per HTTP method:
``cases:read``, which staff hold from the auditor role up), and keeps DRF's default permission
classes so that the project-wide permission class reads it.
"""

from __future__ import annotations

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


class NoticeCursorPagination(CursorPage):
    page_size = 100
    max_page_size = 500
    page_size_query_param = "limit"
    ordering = ("created_at", "id")


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
