"""Real NGINX (Debian's package) in front of a dummy upstream, with ``auth_request`` pointed at
the service's ``/api/v1/gateway/authz``, or at a mirror process (``python -m gateway.mirror``)
following the service: the configuration shipped in docs/gateway/nginx.conf, run as it is, and
the same requests either way. Skipped where nginx is missing, except in CI (``.ci/run``
installs it)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest

from accounts.models import Account
from accounts.services import api_client_create
from cases.actions import RestrictionSpec, Suspend
from cases.gateway_reads import feed_head
from cases.models import Decision
from cases.services import case_open, case_transition
from core.actors import Actor

from .mirror_process import Mirror, free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "docs" / "gateway" / "nginx.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

pytestmark = pytest.mark.skipif(
    NGINX is None and os.environ.get("CI") != "true",
    reason="needs Debian's nginx (apt-get install nginx); .ci/run installs it",
)


class Upstream:
    """The API's own server, standing in: records what reaches it."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                upstream.seen.append(
                    {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
                )
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def nginx_config(*, listen: str, upstream: str, authz: str, key: str, prefix: Path) -> str:
    values = {"LISTEN": listen, "UPSTREAM": upstream, "AUTHZ": authz, "KEY": key}
    return Template(CONFIG.read_text()).safe_substitute(
        {f"TNS_{name}": value for name, value in {**values, "PREFIX": str(prefix)}.items()}
    )


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


def run_nginx(config: str, prefix: Path, port: int) -> subprocess.Popen[bytes]:
    assert NGINX is not None, "nginx is not installed"
    conf = prefix / "nginx.conf"
    conf.write_text(config)
    check = subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [
            NGINX,
            "-p",
            str(prefix),
            "-c",
            str(conf),
            "-e",
            str(prefix / "error.log"),
            "-g",
            "daemon off; user root;" if os.geteuid() == 0 else "daemon off;",
        ]
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("nginx did not start: " + (prefix / "error.log").read_text())


def restrict(external_id: str, spec: RestrictionSpec) -> Decision:
    account = Account.objects.create(external_id=external_id)
    case = case_open(account=account, summary="gateway", actor=Actor.system())
    case_transition(
        case=case,
        command=Suspend(reason="r", policies=["rate-limit-evasion"], restriction=spec),
        actor=Actor.system(),
    )
    return Decision.objects.get(case=case)


class Gateway:
    """NGINX in front of the upstream, asking ``via`` (the service or a mirror)."""

    def __init__(self, url: str, via: str, mirror: Mirror | None) -> None:
        self.url = url
        self.via = via
        self.mirror = mirror

    def synced(self) -> None:
        """Wait until what the check answers reflects every change committed so far."""
        if self.mirror is not None:
            self.mirror.wait_for_cursor(feed_head())


@pytest.fixture(params=["service", "mirror"])
def through(
    request: pytest.FixtureRequest,
    live_server: Any,
    upstream: Upstream,
    tmp_path: Path,
    policies: Any,
) -> Iterator[Gateway]:
    """NGINX on a free port asking about each request the service (a live server) or a mirror
    process that follows it."""
    _, key = api_client_create(name="nginx", scopes=["enforcement:read"])
    mirror = Mirror(live_server.url, key, tmp_path) if request.param == "mirror" else None
    port = free_port()
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp_path / sub).mkdir()
    authz = (
        f"{mirror.url}/authz" if mirror is not None else f"{live_server.url}/api/v1/gateway/authz"
    )
    config = nginx_config(
        listen=f"127.0.0.1:{port}",
        upstream=f"127.0.0.1:{upstream.port}",
        authz=authz,
        key=key,
        prefix=tmp_path,
    )
    try:
        process = run_nginx(config, tmp_path, port)
        try:
            yield Gateway(f"http://127.0.0.1:{port}", request.param, mirror)
        finally:
            process.terminate()
            process.wait(10)
    finally:
        if mirror is not None:
            mirror.stop()


@pytest.mark.django_db(transaction=True)
def test_nginx_lets_through_refuses_and_limits_as_the_check_says(
    through: Gateway, upstream: Upstream
) -> None:
    Account.objects.create(external_id="good-co")
    suspended = restrict("bad-co", RestrictionSpec())
    blocked = restrict("model-co", RestrictionSpec(kind="model_block", models=["gpt-x"]))
    restrict("slow-co", RestrictionSpec(kind="rate_limit", requests_per_minute=10))
    through.synced()
    with httpx.Client(base_url=through.url, timeout=5) as client:

        def call(account: str, model: str | None = None) -> httpx.Response:
            headers = {"x-account-id": account, "Authorization": "Bearer customer-key"}
            if model:
                headers["x-model"] = model
            return client.post("/v1/chat/completions", headers=headers, content=b"{}")

        ok = call("good-co")
        assert ok.status_code == 200, ok.text
        assert upstream.seen[-1]["path"] == "/v1/chat/completions"
        # The mirror holds only the accounts that are not active: to it, one never restricted
        # is unknown (allowed all the same).
        active = "active" if through.via == "service" else "unknown"
        assert upstream.seen[-1]["x-tns-status"] == active
        # The customer's own Authorization reaches the upstream; the gateway's key never does.
        assert upstream.seen[-1]["authorization"] == "Bearer customer-key"
        assert "x-tns-key" not in upstream.seen[-1]

        reached = len(upstream.seen)
        refused = call("bad-co")
        assert refused.status_code == 403
        assert refused.headers["x-tns-reason"] == "suspended"
        assert refused.headers["x-tns-decision"] == suspended.reference
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["decision"] == suspended.reference
        assert len(upstream.seen) == reached  # nothing reached the upstream

        model = call("model-co", model="gpt-x")
        assert model.status_code == 403
        assert (model.headers["x-tns-reason"], model.headers["x-tns-decision"]) == (
            "model_blocked",
            blocked.reference,
        )
        other = call("model-co", model="gpt-y")
        assert other.status_code == 200
        assert upstream.seen[-1]["x-tns-status"] == "restricted"

        limited = call("slow-co")
        assert limited.status_code == 200
        assert limited.headers["x-tns-rate-limit"] == "rpm=10"
        assert upstream.seen[-1]["x-tns-rate-limit"] == "rpm=10"

        unknown = call("never-seen")
        assert unknown.status_code == 200
        assert upstream.seen[-1]["x-tns-status"] == "unknown"
