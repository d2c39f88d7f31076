"""Evidence kept in an S3-compatible bucket: a local S3 server (moto's server mode) started by
the test, on loopback, with django-storages' S3Storage in front of it.

Skipped only where moto is not installed, and never in CI (``CI=true``): there it must run."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import Account
from cases.evidence_store import content_read, evidence_storage
from cases.models import EvidenceItem
from cases.services.evidence import EvidenceUpload, evidence_item_add, evidence_item_open
from core.actors import Actor

from ..services.helpers import case_in_state

if os.environ.get("CI") == "true":
    from moto.server import ThreadedMotoServer
else:
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    ThreadedMotoServer = moto_server.ThreadedMotoServer

BUCKET = "tscase-evidence-test"
PORTS = range(18300, 18320)


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_storage(s3_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "evidence": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "file_overwrite": False,
                "default_acl": None,
                "querystring_auth": False,
            },
        },
    }


@pytest.mark.django_db
def test_a_file_and_a_snapshot_are_kept_in_the_bucket_and_verify(
    s3_storage: None, account: Account, policies: Any, actors: dict[str, Actor], capsys: Any
) -> None:
    case = case_in_state(account, "suspended")
    content = b"2026-11-30 prompts=120000\n"

    item = evidence_item_add(
        case=case.pk,
        upload=EvidenceUpload(content=io.BytesIO(content), name="traffic.txt"),
        actor=actors["analyst"],
    )
    evidence_item_open(item_id=item.pk, actor=actors["auditor"], reason="review")

    assert type(evidence_storage()).__name__ == "S3Storage"
    assert content_read(item.storage_name) == content
    assert item.sha256 == hashlib.sha256(content).hexdigest()
    snapshot = EvidenceItem.objects.get(case=case, kind="snapshot")
    frozen = content_read(snapshot.storage_name)
    assert hashlib.sha256(frozen).hexdigest() == snapshot.sha256
    assert json.loads(frozen)["case"]["state"] == "suspended"
    capsys.readouterr()
    call_command("verify_audit", "--content")
    assert capsys.readouterr().out.startswith("OK: ")


@pytest.mark.django_db
def test_the_same_name_twice_is_two_objects_in_the_bucket(
    s3_storage: None, account: Account, policies: Any, actors: dict[str, Actor]
) -> None:
    case = case_in_state(account, "flagged")
    first = evidence_item_add(
        case=case.pk,
        upload=EvidenceUpload(content=io.BytesIO(b"one"), name="a.txt"),
        actor=actors["analyst"],
    )
    second = evidence_item_add(
        case=case.pk,
        upload=EvidenceUpload(content=io.BytesIO(b"two"), name="a.txt"),
        actor=actors["analyst"],
    )

    assert first.storage_name != second.storage_name
    assert (content_read(first.storage_name), content_read(second.storage_name)) == (
        b"one",
        b"two",
    )
