"""Renders a notice once, when it is recorded, so the stored row is exactly what is sent.

E-mails use the templates ``notifications/<channel>/<event>_subject.txt``, ``<event>.txt`` and
``<event>.html``; their context is the notice's ``payload`` (plain JSON, stored with the notice),
its ``statement`` and a few settings. A webhook's body is its payload serialized once, so every
retry signs and sends the same bytes.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.dateparse import parse_datetime

from .choices import Channel
from .models import Notice

SUBJECT_MAX = 300


def template_names(channel: str, event: str) -> dict[str, str]:
    base = f"notifications/{channel}/{event}"
    return {"subject": f"{base}_subject.txt", "text": f"{base}.txt", "html": f"{base}.html"}


def webhook_body(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _dates(value: Any) -> Any:
    """Turn ISO strings of the JSON payload back into datetimes so templates can format them."""
    if isinstance(value, dict):
        return {k: _dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and "T" in value:
        try:
            parsed = parse_datetime(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        return parsed or value
    return value


def notice_render(notice: Notice) -> None:
    """Fill ``subject``, ``body_text`` and ``body_html`` of an unsaved notice, unless set."""
    if notice.channel == Channel.WEBHOOK:
        notice.subject = notice.subject or notice.event
        notice.body_text = notice.body_text or webhook_body(notice.payload)
        return
    if notice.body_text:
        return
    context = {
        **_dates(notice.payload),
        "statement": _dates(notice.statement) if notice.statement else None,
        "recipient": notice.recipient,
        "appeals_email": settings.APPEALS_EMAIL,
        "sender": settings.DEFAULT_FROM_EMAIL,
        "site_url": getattr(settings, "SITE_URL", ""),
    }
    names = template_names(notice.channel, notice.event)
    subject = render_to_string(names["subject"], context)
    notice.subject = " ".join(subject.split())[:SUBJECT_MAX]
    notice.body_text = render_to_string(names["text"], context).strip() + "\n"
    notice.body_html = render_to_string(names["html"], context)
