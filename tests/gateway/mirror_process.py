"""A real mirror process (``python -m gateway.mirror``) following a service, for the tests of
tests/gateway: started on a free loopback port with its own state file and log, stopped at the
end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free loopback port: from ``TEST_PORT_RANGE`` (``low-high``) when set, else the OS's."""
    wanted = os.environ.get("TEST_PORT_RANGE")
    if wanted:
        low, high = (int(p) for p in wanted.split("-"))
        for port in range(low, high + 1):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
        raise RuntimeError(f"no free port in {wanted}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mirror:
    """``python -m gateway.mirror`` on a free port, following ``service_url``."""

    def __init__(
        self,
        service_url: str,
        key: str,
        folder: Path,
        *,
        max_stale: float = 300,
        on_stale: str = "allow",
        name: str = "mirror",
        port: int | None = None,
    ) -> None:
        self.folder = folder
        self.state_file = folder / "mirror-state.json"
        self.log_path = folder / f"{name}.log"
        # A restarted mirror takes its old port: a port freed by a stopped service stays its own.
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "TSCASE_GATEWAY_KEY": key,
            "PYTHONPATH": str(ROOT),
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # our own module, fixed arguments
            [
                sys.executable,
                "-m",
                "gateway.mirror",
                "--service",
                service_url,
                "--listen",
                f"127.0.0.1:{self.port}",
                "--state-file",
                str(self.state_file),
                "--max-stale",
                str(max_stale),
                "--on-stale",
                on_stale,
                "--poll-interval",
                "0.1",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError("the mirror did not start: " + self.log())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def wait_for_cursor(self, cursor: int, timeout: float = 15) -> dict[str, Any]:
        """Wait until the mirror holds a list at ``cursor`` or later; its /healthz."""
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                status, body = self.health()
            except OSError:
                status = 0
            if status == 200 and int(body["cursor"]) >= cursor:
                return body
            time.sleep(0.05)
        raise AssertionError(f"the mirror did not reach {cursor}: {body}\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
