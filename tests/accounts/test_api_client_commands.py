"""create_api_client, list_api_clients and --revoke."""

from __future__ import annotations

import hashlib
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.authentication import client_for_key
from accounts.models import ApiClient


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_key_once_and_stores_only_its_hash(db: Any) -> None:
    out, err = run(
        "create_api_client", "gateway", "--scope", "enforcement:read", "--scope", "cases:read"
    )
    key = out.strip()
    assert key.startswith("tsk_")
    client = ApiClient.objects.get(name="gateway")
    assert client.scopes == ["enforcement:read", "cases:read"]
    assert client.role == "analyst"
    assert client.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in str(ApiClient.objects.values().get(pk=client.pk))
    assert "shown once" in err
    assert client_for_key(key) is not None


def test_create_with_a_role(db: Any) -> None:
    run("create_api_client", "tools", "--scope", "cases:write", "--role", "investigator")
    assert ApiClient.objects.get(name="tools").role == "investigator"


def test_create_a_staff_tool_and_list_it(db: Any) -> None:
    _, err = run("create_api_client", "console", "--scope", "cases:write", "--staff-tool")
    run("create_api_client", "pipeline", "--scope", "signals:write")
    assert "console (a staff tool)" in err
    assert ApiClient.objects.get(name="console").staff_tool is True
    assert ApiClient.objects.get(name="pipeline").staff_tool is False
    listing = dict(line.split("\t", 1) for line in run("list_api_clients")[0].splitlines())
    assert listing["console"].endswith("\tactive\tstaff tool")
    assert listing["pipeline"].endswith("\tactive")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad"], "give at least one --scope"),
        (["bad", "--scope", "cases:delete"], "unknown scope"),
        (["bad", "--scope", "cases:read", "--role", "king"], "unknown role"),
        (["nobody", "--revoke"], "no API client named"),
    ],
)
def test_bad_input_fails_with_one_line(db: Any, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message) as failure:
        run("create_api_client", *args)
    assert "\n" not in str(failure.value)
    assert ApiClient.objects.filter(name="bad").exists() is False


def test_duplicate_name_is_refused(db: Any) -> None:
    run("create_api_client", "twice", "--scope", "cases:read")
    with pytest.raises(CommandError, match="already exists"):
        run("create_api_client", "twice", "--scope", "cases:read")


def test_bad_input_exits_non_zero_from_the_shell(db: Any) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "manage.py", "create_api_client", "x", "--scope", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "unknown scope" in result.stderr


def test_revoke_stops_the_key_and_list_shows_it(db: Any) -> None:
    key = run("create_api_client", "old", "--scope", "cases:read")[0].strip()
    out, _ = run("create_api_client", "old", "--revoke")
    assert "revoked old" in out
    assert client_for_key(key) is None
    listing, _ = run("list_api_clients")
    assert "old" in listing
    assert "revoked" in listing
    assert key not in listing


def test_a_key_file_is_written_for_its_owner_kept_while_valid_and_replaced_once_revoked(
    db: Any, tmp_path: Any
) -> None:
    path = tmp_path / "gateway.key"
    out, err = run(
        "create_api_client", "gw-1", "--scope", "enforcement:read", "--key-file", str(path)
    )
    assert out == ""  # the key goes to the file only
    key = path.read_text().strip()
    assert client_for_key(key) == ApiClient.objects.get(name="gw-1")
    assert path.stat().st_mode & 0o777 == 0o600
    assert f"its key is in {path}" in err

    # Run again (as every `make gateway` does): the valid key is kept, no client is made.
    _, err = run(
        "create_api_client", "gw-2", "--scope", "enforcement:read", "--key-file", str(path)
    )
    assert "kept" in err
    assert path.read_text().strip() == key
    assert not ApiClient.objects.filter(name="gw-2").exists()

    # A scope the kept key lacks, or a revoked key: a new client and key replace it.
    run("create_api_client", "gw-1", "--revoke")
    run("create_api_client", "gw-3", "--scope", "enforcement:read", "--key-file", str(path))
    replaced = path.read_text().strip()
    assert replaced != key and client_for_key(replaced) == ApiClient.objects.get(name="gw-3")
    run("create_api_client", "gw-4", "--scope", "cases:read", "--key-file", str(path))
    assert client_for_key(path.read_text().strip()) == ApiClient.objects.get(name="gw-4")
