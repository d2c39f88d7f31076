"""Processes the benchmarks start on loopback: gunicorn, Celery workers, wrk; and their RSS."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    """Resident set size of one process, from /proc (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process tree (the process and its children), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for one in [pid, *children(pid)]:
        try:
            with open(f"/proc/{one}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


@dataclass
class PeakRss:
    """Samples the RSS of a process tree every 50 ms and keeps each process's peak."""

    root_pid: int
    peaks: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> PeakRss:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in [self.root_pid, *children(self.root_pid)]:
                self.peaks[pid] = max(self.peaks.get(pid, 0), rss_kib(pid))
            time.sleep(0.05)

    def stop(self) -> str:
        self._stop.set()
        if self._thread:
            self._thread.join()
        parts = [f"{kib / 1024:.0f}" for _, kib in sorted(self.peaks.items()) if kib]
        return "peak RSS MiB [" + ", ".join(parts) + "]"


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    if cpu is not None and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *cmd]
    return cmd


class Gunicorn:
    """gunicorn with ``workers`` sync workers on a free loopback port."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int = 2,
        cpu: int | None = 0,
        app: str = "bench.wsgi:application",
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            PY,
            "-m",
            "gunicorn",
            app,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
        ]
        self.proc = subprocess.Popen(pinned(cmd, cpu), cwd=ROOT, env=env)
        self._wait_ready()
        self.rss = PeakRss(self.proc.pid).start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def stop(self) -> str:
        summary = self.rss.stop() if hasattr(self, "rss") else ""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return summary


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def _ms(text: str) -> float:
    """A wrk duration (``812.00us``, ``3.21ms``, ``1.02s``, ``1.50m``) in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        raise RuntimeError(f"unexpected wrk duration {text!r}")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(
    url: str,
    *,
    seconds: int,
    script: Path,
    env: dict[str, str],
    connections: int = 8,
    cpu: int | None = 1,
    refusals_expected: bool = False,
) -> WrkResult:
    """wrk's figures; errors are socket errors plus non-2xx answers, or, with
    ``refusals_expected`` (a script that prints ``Unexpected statuses: N``, as authz.lua), the
    answers other than 200 and 403."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(
        pinned(cmd, cpu), env={**os.environ, **env}, capture_output=True, text=True, check=True
    ).stdout
    if "Requests/sec" not in out or "50%" not in out:
        raise RuntimeError(f"wrk printed no result: {out.strip()[-500:]}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    if refusals_expected:
        unexpected = re.search(r"Unexpected statuses: (\d+)", out)
        if unexpected is None:
            raise RuntimeError("the wrk script printed no count of unexpected statuses")
        errors += int(unexpected.group(1))
    else:
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non2xx:
            errors += int(non2xx.group(1))
    return WrkResult(rps, p50, p99, errors, total)


class Mirror:
    """``python -m gateway.mirror`` following ``service_url`` on a free port, pinned to ``cpu``,
    with its state file in ``folder``."""

    def __init__(
        self,
        service_url: str,
        key: str,
        folder: Path,
        *,
        cpu: int | None = 0,
        poll_interval: float = 1.0,
        max_stale: float = 300,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state_file = folder / "mirror-state.json"
        cmd = [
            PY,
            "-m",
            "gateway.mirror",
            "--service",
            service_url,
            "--listen",
            f"127.0.0.1:{self.port}",
            "--state-file",
            str(self.state_file),
            "--poll-interval",
            str(poll_interval),
            "--max-stale",
            str(max_stale),
        ]
        env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "TSCASE_GATEWAY_KEY": key,
            "PYTHONPATH": str(ROOT),
            "TSCASE_MIRROR_LOG_LEVEL": "WARNING",
        }
        self.proc = subprocess.Popen(pinned(cmd, cpu), cwd=ROOT, env=env)
        self.rss = PeakRss(self.proc.pid).start()

    def health(self) -> tuple[int, dict[str, object]]:
        import json
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, {}
        except OSError:
            return 0, {}

    def wait_for_cursor(self, cursor: int, timeout: float = 600) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.health()
            if status == 200 and int(str(body["cursor"])) >= cursor:
                return body
            if self.proc.poll() is not None:
                raise RuntimeError("the mirror exited")
            time.sleep(0.1)
        raise RuntimeError(f"the mirror did not reach cursor {cursor}")

    def rss_mib(self) -> float:
        return rss_kib(self.proc.pid) / 1024

    def stop(self) -> str:
        summary = self.rss.stop()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return summary
