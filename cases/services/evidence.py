"""Evidence files: adding one to a case, and opening one (a custody event each time).

An item is never changed or deleted (``cases.evidence_models``); its content is written once
(``cases.evidence_store``). Opening an item checks the stored content against its SHA-256
before handing it out, so a changed file is refused, not served.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import InvalidInput, MissingInput

from ..choices import CustodyAction, EventAction, EvidenceKind
from ..errors import EvidenceCorrupted, EvidenceNotFound
from ..evidence_store import content_digest, content_store
from ..models import EvidenceItem
from ..workflow import NOTE_MIN_ROLE
from .custody import REASON_MAX, custody_append, evidence_item_create
from .transitions import _append_event, _lock_case, _require_role, _text

NAME_MAX = EvidenceItem._meta.get_field("name").max_length or 255
MEDIA_TYPE_MAX = EvidenceItem._meta.get_field("media_type").max_length or 127
MEDIA_TYPE = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62}$"
)
OPEN_ACTIONS = (CustodyAction.VIEWED, CustodyAction.DOWNLOADED, CustodyAction.EXPORTED)


@dataclass(frozen=True)
class EvidenceUpload:
    """One file to add to a case: what the admin form and the API both build."""

    content: IO[bytes]
    name: str
    media_type: str = ""
    description: str = ""


def evidence_max_bytes() -> int:
    return int(settings.API_MAX_BODY_BYTES)


def _name(value: str) -> str:
    name = (value or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name:
        raise MissingInput(missing=["name"])
    if len(name) > NAME_MAX or any(ord(c) < 32 for c in name):
        raise InvalidInput(
            detail=f"'name' must be at most {NAME_MAX} printable characters.", field="name"
        )
    return name


def _media_type(value: str, name: str) -> str:
    value = (value or "").split(";", 1)[0].strip().lower()
    if not value or value == "application/octet-stream":
        value = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if len(value) > MEDIA_TYPE_MAX or not MEDIA_TYPE.match(value):
        raise InvalidInput(
            detail="'media_type' must be a media type such as text/plain.", field="media_type"
        )
    return value


def evidence_item_add(*, case: int, upload: EvidenceUpload, actor: Actor) -> EvidenceItem:
    """Store a file as evidence of a case: its content once, the item, its acquisition on the
    custody log and an ``evidence_file`` event on the case's timeline (which names its hash)."""
    _require_role(actor, NOTE_MIN_ROLE, "add evidence")
    name = _name(upload.name)
    media_type = _media_type(upload.media_type, name)
    description = _text({"description": upload.description}, "description", required=False)
    upload.content.seek(0, 2)
    size = upload.content.tell()
    upload.content.seek(0)
    if size == 0:
        raise InvalidInput(detail="The file is empty.", field="file")
    if size > evidence_max_bytes():
        raise InvalidInput(
            detail=f"The file is larger than {evidence_max_bytes()} bytes.", field="file"
        )
    with transaction.atomic():
        locked = _lock_case(case)
        now = timezone.now()
        stored = content_store(case_id=locked.pk, content=File(upload.content))
        item = evidence_item_create(
            case=locked,
            kind=EvidenceKind.UPLOAD,
            name=name,
            description=description,
            media_type=media_type,
            stored=stored,
            actor=actor,
            at=now,
        )
        _append_event(
            case=locked,
            actor=actor,
            action=EventAction.EVIDENCE_FILE,
            at=now,
            data={
                "item": item.pk,
                "name": name,
                "media_type": media_type,
                "size": stored.size,
                "sha256": stored.sha256,
            },
        )
    return item


def evidence_item_open(
    *, item_id: int, actor: Actor, action: str = CustodyAction.DOWNLOADED, reason: str = ""
) -> EvidenceItem:
    """Record that ``actor`` views, downloads or exports the item (why, if said), once its
    content is checked against its hash; the caller then reads the content. Who may read
    evidence is the caller's to check (the API's ``cases:read``, the admin's view permission),
    as for every other read of a case."""
    if action not in OPEN_ACTIONS:
        raise InvalidInput(detail=f"'{action}' is not a way to open evidence.", field="action")
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            detail=f"'reason' is longer than {REASON_MAX} characters.", field="reason"
        )
    try:
        item = EvidenceItem.objects.get(pk=item_id)
    except (EvidenceItem.DoesNotExist, ValueError, TypeError):
        raise EvidenceNotFound(detail=f"Evidence {item_id} does not exist.") from None
    try:
        kept = content_digest(item.storage_name)
    except (FileNotFoundError, OSError):
        kept = ("", -1)
    if kept != (item.sha256, item.size):
        raise EvidenceCorrupted(
            detail=f"Evidence {item.pk}'s stored content does not match its SHA-256 and size."
        )
    with transaction.atomic():
        custody_append(item=item, action=action, actor=actor, at=timezone.now(), reason=reason)
    return item
