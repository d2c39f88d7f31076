"""The HTTP server as production runs it (gunicorn with config/gunicorn.conf.py) answers its own
refusals, before Django, as problem details; and the schema declares them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL")
    }
    env["VAR_DIR"] = str(tmp_path_factory.mktemp("gunicorn-var"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, headers, body


def test_an_over_long_request_line_is_a_414_problem(server: int) -> None:
    path = "/api/v1/cases?account=" + "a" * 5000
    status, headers, body = _raw(server, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 414
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 414
    assert problem["code"] == "request_line_too_long"
    assert problem["type"].endswith("/request_line_too_long")


def test_an_over_large_header_is_a_431_problem(server: int) -> None:
    request = f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {'b' * 9000}\r\n\r\n".encode()
    status, headers, body = _raw(server, request)
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == "headers_too_large"


def test_an_unparsable_request_is_a_400_problem(server: int) -> None:
    status, headers, body = _raw(server, b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n")
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["code"] == "bad_request"


def test_a_request_within_the_limits_reaches_the_app(server: int) -> None:
    status, _, _ = _raw(server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 200


def test_every_operation_declares_414_and_431(db: None) -> None:
    schema = json.loads(Client().get("/api/v1/schema?format=json").content)
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status in ("414", "431"):
                content = operation["responses"][status]["content"]
                assert "application/problem+json" in content, (path, method, status)
