"""The service's URLs plus the baselines that benchmarks compare against, in the same server."""

from __future__ import annotations

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from accounts.models import Account
from config.urls import urlpatterns as service_urlpatterns


def bare_enforcement(request: HttpRequest, external_id: str) -> HttpResponse:
    """Baseline 1: a bare Django view reading the same row with .values() and returning JSON."""
    row = (
        Account.objects.filter(external_id=external_id)
        .values("external_id", "enforcement_status", "enforcement_since", "enforcement_case_id")
        .first()
    )
    if row is None:
        return JsonResponse({"detail": "not found"}, status=404)
    return JsonResponse(
        {
            "account": row["external_id"],
            "status": row["enforcement_status"],
            "since": row["enforcement_since"].isoformat(),
            "case": row["enforcement_case_id"],
        }
    )


@csrf_exempt
def raw_check(request: HttpRequest) -> HttpResponse:
    """Baseline 2: the same rows as /enforcement/check, read by one raw SELECT ... = ANY(...)."""
    ids = json.loads(request.body)["accounts"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT external_id, enforcement_status FROM accounts_account "
                "WHERE external_id = ANY(%s)",
                [ids],
            )
        else:
            marks = ",".join(["%s"] * len(ids))
            cursor.execute(
                "SELECT external_id, enforcement_status FROM accounts_account "  # noqa: S608
                f"WHERE external_id IN ({marks})",
                ids,
            )
        rows = cursor.fetchall()
    return JsonResponse({"results": [{"account": a, "status": s} for a, s in rows]})


urlpatterns = [
    path("bench/bare/<str:external_id>", bare_enforcement),
    path("bench/raw-check", raw_check),
    *service_urlpatterns,
]
