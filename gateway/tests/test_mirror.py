"""The mirror: its answers (no network), then the real process over loopback."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.client import DenyListClient
from gateway.mirror import Answerer
from gateway.tests.fake_service import KEY, FakeService, model_block, rate_limit, suspension
from gateway.verdict import refusal_problem

ROOT = Path(__file__).resolve().parents[2]


def ready_client(service: FakeService, tmp_path: Path) -> DenyListClient:
    service.change("acme", "suspended", [suspension("sor_1")])
    service.change("initech", "restricted", [model_block("sor_2", "gpt-x")])
    service.change("hooli", "restricted", [rate_limit("sor_3", 10)])
    client = DenyListClient(service.url, KEY, state_file=tmp_path / "state.json")
    client.sync_once()
    return client


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_answers_as_the_service(service: FakeService, tmp_path: Path) -> None:
    answerer = Answerer(ready_client(service, tmp_path))
    status, headers, body, content_type = answerer.authz({"x-account-id": "acme"}, "/authz")
    h = dict(headers)
    assert status == 403 and content_type == "application/problem+json"
    assert (h["x-tns-status"], h["x-tns-reason"], h["x-tns-decision"]) == (
        "suspended",
        "suspended",
        "sor_1",
    )
    assert h["x-tns-feed-seq"] == "3" and h["x-tns-stale-seconds"] == "0"
    assert json.loads(body) == refusal_problem(
        reason="suspended", account="acme", decision="sor_1", instance="/authz"
    )
    status, headers, _, _ = answerer.authz(
        {"x-account-id": "initech", "x-model": "gpt-x"}, "/authz/v1/chat"
    )
    assert status == 403 and dict(headers)["x-tns-reason"] == "model_blocked"
    status, headers, _, _ = answerer.authz({"x-account-id": "initech", "x-model": "o"}, "/authz")
    assert status == 200 and dict(headers)["x-tns-status"] == "restricted"
    status, headers, body, _ = answerer.authz({"x-account-id": "hooli"}, "/authz")
    assert status == 200 and dict(headers)["x-tns-rate-limit"] == "rpm=10" and body == b""
    status, headers, _, _ = answerer.authz({"x-account-id": "nobody"}, "/authz")
    assert status == 200 and dict(headers)["x-tns-status"] == "unknown"
    assert "x-tns-reason" not in dict(headers)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "account_id_missing"),
        ({"x-account-id": "  "}, "account_id_missing"),
        ({"x-account-id": "a/b"}, "invalid_account_id"),
        ({"x-account-id": "check"}, "invalid_account_id"),
    ],
)
def test_400_without_a_valid_account(
    service: FakeService, tmp_path: Path, headers: dict[str, str], code: str
) -> None:
    answerer = Answerer(ready_client(service, tmp_path))
    status, _, body, _ = answerer.authz(headers, "/authz")
    assert status == 400 and json.loads(body)["code"] == code


def test_stale_allow_keeps_answering_from_the_list(service: FakeService, tmp_path: Path) -> None:
    clock = Clock()
    client = ready_client(service, tmp_path)
    answerer = Answerer(client, max_stale=60, clock=clock)
    assert client.synced_at is not None
    clock.now = client.synced_at + 61
    status, headers, _, _ = answerer.authz({"x-account-id": "acme"}, "/authz")
    h = dict(headers)
    assert status == 403 and h["x-tns-reason"] == "suspended"
    assert h["x-tns-stale"] == "true" and int(h["x-tns-stale-seconds"]) >= 61
    status, headers, _, _ = answerer.authz({"x-account-id": "nobody"}, "/authz")
    assert status == 200
    code, body = answerer.healthz()
    assert code == 200 and json.loads(body)["status"] == "stale"


def test_stale_deny_refuses_everything(service: FakeService, tmp_path: Path) -> None:
    clock = Clock()
    client = ready_client(service, tmp_path)
    answerer = Answerer(client, max_stale=60, on_stale="deny", clock=clock)
    assert client.synced_at is not None
    clock.now = client.synced_at + 59
    status, _, _, _ = answerer.authz({"x-account-id": "nobody"}, "/authz")
    assert status == 200  # not yet stale
    clock.now = client.synced_at + 61
    status, headers, body, _ = answerer.authz({"x-account-id": "nobody"}, "/authz")
    assert status == 403 and dict(headers)["x-tns-reason"] == "list_stale"
    assert json.loads(body)["code"] == "list_stale"


def test_no_list_yet_is_503(tmp_path: Path) -> None:
    answerer = Answerer(DenyListClient("http://127.0.0.1:9", KEY))
    status, _, body, _ = answerer.authz({"x-account-id": "acme"}, "/authz")
    assert status == 503 and json.loads(body)["code"] == "list_not_loaded"
    code, _ = answerer.healthz()
    assert code == 503


# --- the process ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_mirror(service_url: str, state: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {**os.environ, "TSCASE_GATEWAY_KEY": KEY, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.mirror",
            "--service",
            service_url,
            "--listen",
            f"127.0.0.1:{port}",
            "--state-file",
            str(state),
            "--poll-interval",
            "0.05",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return process, port


def wait_healthy(port: int, timeout: float = 10) -> dict[str, object]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            body = json.loads(response.read())
            conn.close()
            if response.status == 200:
                return body
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("the mirror did not become healthy")


@pytest.fixture
def mirror(service: FakeService, tmp_path: Path) -> Iterator[tuple[FakeService, int, Path]]:
    service.change("acme", "suspended", [suspension("sor_1")])
    state = tmp_path / "state.json"
    process, port = start_mirror(service.url, state)
    try:
        wait_healthy(port)
        yield service, port, state
    finally:
        process.terminate()
        process.wait(10)


def test_the_process_answers_with_keep_alive(mirror: tuple[FakeService, int, Path]) -> None:
    service, port, _ = mirror
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    for method in ("GET", "POST", "HEAD"):
        conn.request(method, "/authz/v1/messages?x=1", headers={"x-account-id": "acme"})
        response = conn.getresponse()
        body = response.read()
        assert response.status == 403
        assert response.getheader("x-tns-decision") == "sor_1"
        if method != "HEAD":
            assert json.loads(body)["code"] == "suspended"
    sock = conn.sock
    conn.request("GET", "/authz", headers={"x-account-id": "other"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200 and conn.sock is sock  # the same connection throughout
    conn.request("GET", "/authz")
    response = conn.getresponse()
    response.read()
    assert response.status == 400
    conn.request("GET", "/nothing")
    response = conn.getresponse()
    response.read()
    assert response.status == 404
    # A change on the service reaches the mirror's answers.
    service.change("acme", "active", [])
    deadline = time.time() + 5
    while time.time() < deadline:
        conn.request("GET", "/authz", headers={"x-account-id": "acme"})
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            break
        time.sleep(0.05)
    assert response.status == 200 and response.getheader("x-tns-feed-seq") == "2"


def test_pipelined_requests_and_chunked_bodies(mirror: tuple[FakeService, int, Path]) -> None:
    _, port, _ = mirror
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(
            b"POST /authz HTTP/1.1\r\nHost: m\r\nx-account-id: acme\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            b"GET /authz HTTP/1.1\r\nHost: m\r\nx-account-id: other\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /authz HTTP/1.1\r\nHost: m\r\nx-account-id: acme\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"403", b"200", b"403"]


def test_malformed_requests_get_4xx_and_the_server_lives(
    mirror: tuple[FakeService, int, Path],
) -> None:
    _, port, _ = mirror
    for raw in (
        b"NONSENSE\r\n\r\n",
        b"GET /authz HTTP/1.1\r\nx" + b"a" * 20000 + b"\r\n\r\n",
        b"POST /authz HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(raw)
            data = s.recv(65536)
        assert data.split(b" ")[1] in (b"400", b"431")
    wait_healthy(port, timeout=2)


def test_healthz_reports_cursor_and_staleness(mirror: tuple[FakeService, int, Path]) -> None:
    _, port, _ = mirror
    body = wait_healthy(port)
    assert body["status"] == "ok" and body["cursor"] == "1" and body["accounts"] == 1
    assert body["stale_seconds"] == 0 and body["on_stale"] == "allow"


def test_restart_while_the_service_is_down_answers_from_the_state_file(
    mirror: tuple[FakeService, int, Path], tmp_path: Path
) -> None:
    _, _, state = mirror
    deadline = time.time() + 5
    while not state.exists() and time.time() < deadline:
        time.sleep(0.05)
    process, port = start_mirror("http://127.0.0.1:9", state)  # nothing listens there
    try:
        body = wait_healthy(port)
        assert body["cursor"] == "1"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/authz", headers={"x-account-id": "acme"})
        response = conn.getresponse()
        response.read()
        assert response.status == 403 and response.getheader("x-tns-stale-seconds") is not None
    finally:
        process.terminate()
        process.wait(10)


def test_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TSCASE_GATEWAY_KEY"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.mirror",
            "--service",
            "http://127.0.0.1:9",
            "--listen",
            "127.0.0.1:0",
            "--state-file",
            str(tmp_path / "s.json"),
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert result.stderr.decode().strip().count("\n") == 0
    assert "TSCASE_GATEWAY_KEY" in result.stderr.decode()
    assert not (tmp_path / "s.json").exists()
