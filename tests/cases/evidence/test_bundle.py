"""The case bundle: written by export_case --bundle, checked by verify_export alone."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Account
from cases.models import CustodyEvent
from cases.services.evidence import EvidenceUpload, evidence_item_add
from core.actors import Actor

from ..services.helpers import case_in_state


@pytest.fixture
def bundle(
    account: Account, policies: Any, actors: dict[str, Actor], tmp_path: Path, capsys: Any
) -> dict[str, Any]:
    case = case_in_state(account, "suspended")
    item = evidence_item_add(
        case=case.pk,
        upload=EvidenceUpload(content=io.BytesIO(b"request log\n"), name="log.txt"),
        actor=actors["analyst"],
    )
    path = tmp_path / "case.zip"
    call_command("export_case", str(case.pk), "--bundle", str(path), "--reason", "court")
    capsys.readouterr()
    return {"case": case, "item": item, "path": path}


def verify(path: Path, capsys: Any) -> str:
    capsys.readouterr()
    call_command("verify_export", str(path))
    return str(capsys.readouterr().out)


def rewritten(path: Path, target: Path, name: str, change: Any) -> None:
    """A copy of the bundle with one file's content changed by ``change``."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for info in source.infolist():
            content = source.read(info)
            copy.writestr(info.filename, change(content) if info.filename == name else content)


def flip_one_byte(content: bytes) -> bytes:
    return bytes([content[0] ^ 1]) + content[1:]


@pytest.mark.django_db
def test_a_fresh_bundle_verifies_and_its_export_is_on_each_custody_log(
    bundle: dict[str, Any], capsys: Any
) -> None:
    out = verify(bundle["path"], capsys)

    assert out.startswith("OK: ")
    assert "2 evidence items" in out
    with zipfile.ZipFile(bundle["path"]) as archive:
        names = sorted(archive.namelist())
    assert names[:1] == ["case.json"] and "manifest.json" in names
    assert f"evidence/{bundle['item'].pk}-log.txt" in names
    exported = CustodyEvent.objects.filter(item=bundle["item"], action="exported").get()
    assert (exported.reason, exported.actor_label) == ("court", "manage.py export_case")


@pytest.mark.django_db
@pytest.mark.parametrize("which", ["evidence", "snapshot", "case.json"])
def test_one_byte_changed_in_any_file_is_named(
    which: str, bundle: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    with zipfile.ZipFile(bundle["path"]) as archive:
        names = archive.namelist()
    name = {
        "evidence": f"evidence/{bundle['item'].pk}-log.txt",
        "snapshot": next(n for n in names if n.endswith("-suspend-2.json")),
        "case.json": "case.json",
    }[which]
    changed = tmp_path / "changed.zip"
    rewritten(bundle["path"], changed, name, flip_one_byte)

    capsys.readouterr()
    with pytest.raises(CommandError):
        call_command("verify_export", str(changed))
    out = capsys.readouterr().out

    assert f"{name}: SHA-256 or size differs from manifest.json" in out


@pytest.mark.django_db
def test_a_file_changed_with_its_manifest_entry_is_still_named(
    bundle: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    import json

    from cases.bundle import manifest_entry

    name = f"evidence/{bundle['item'].pk}-log.txt"
    with zipfile.ZipFile(bundle["path"]) as archive:
        forged = flip_one_byte(archive.read(name))
        manifest = json.loads(archive.read("manifest.json"))
    manifest["files"][name] = manifest_entry(forged)
    step = tmp_path / "step.zip"
    rewritten(bundle["path"], step, name, lambda _: forged)
    final = tmp_path / "final.zip"
    rewritten(step, final, "manifest.json", lambda _: json.dumps(manifest).encode())

    capsys.readouterr()
    with pytest.raises(CommandError):
        call_command("verify_export", str(final))
    out = capsys.readouterr().out

    assert f"{name}: not the content evidence {bundle['item'].pk} was acquired with" in out


@pytest.mark.django_db
def test_a_missing_bundle_or_a_case_that_does_not_exist_fails(tmp_path: Path) -> None:
    with pytest.raises(CommandError):
        call_command("verify_export", str(tmp_path / "none.zip"))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_case", "999999", "--bundle", str(tmp_path / "x.zip"))
    assert (tmp_path / "x.zip").exists() is False
    assert CustodyEvent.objects.filter(action="exported").exists() is False
