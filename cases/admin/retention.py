"""Retention in the admin (docs/security.md): the periods in force, read-only (they are
settings), what the next purge would delete now (the dry run's counts), what each active legal
hold keeps, and the last purges. Staff who may view the holds see it."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from ..models import PurgeRecord
from ..retention import CASE_PARTS, KINDS, LABELS, retention_plan

RECENT_PURGES = 10


def _part(kind: str) -> str:
    return kind.replace("case_", "").replace("_", " ")


def retention_view(model_admin: ModelAdmin[Any], request: HttpRequest) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    plan = retention_plan(timezone.now())
    rows = [
        {
            "kind": kind,
            "label": LABELS[kind],
            "days": plan.periods[kind],
            "minimum": settings.RETENTION_MINIMUM_DAYS[kind],
            "setting": f"RETENTION_{kind.upper()}_DAYS",
            "cutoff": plan.cutoffs[kind],
            "due": plan.counts[kind],
        }
        for kind in KINDS
    ]
    parts = ", ".join(f"{_part(kind)} {plan.counts[kind]}" for kind in CASE_PARTS)
    held = [
        {
            "hold": kept.hold,
            "legal_reference": kept.legal_reference,
            "on": kept.on,
            "counts": ", ".join(f"{LABELS[k].lower()}: {n}" for k, n in kept.counts.items())
            or "nothing past its period yet",
        }
        for kept in plan.held
    ]
    purges = [
        {
            "at": record.at,
            "actor": record.actor_label,
            "counts": ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in record.counts.items() if n)
            or "nothing was due",
            "held": len(record.held),
            "cases": record.cases,
        }
        for record in PurgeRecord.objects.order_by("-at", "-id")[:RECENT_PURGES]
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Retention",
        "opts": model_admin.model._meta,
        "rows": rows,
        "parts": parts,
        "held": held,
        "purges": purges,
        "margin": settings.RETENTION_MARGIN_DAYS,
        "appeal_window": settings.APPEAL_WINDOW_DAYS,
    }
    return TemplateResponse(request, "admin/cases/legalhold/retention.html", context)
