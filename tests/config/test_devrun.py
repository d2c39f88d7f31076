"""``make run``'s launcher: Ctrl-C stops the web server, the worker, beat and the partner sandbox
cleanly, exit 0.

Real processes on the embedded default (SQLite and the filesystem broker in a temporary
directory), the web server on a free port. The test sends SIGINT to the launcher's process
group, as a terminal's Ctrl-C does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What a newcomer would read as a failure.
ERROR_MARKS = (
    "exited with",
    "signal 15",
    "SIGTERM",
    "Traceback",
    "WorkerLostError",
    "Error",
    "killed",
    "Cold shutdown",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: object, timeout: float, what: str, output: list[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen in {timeout} s:\n" + "".join(output[-80:]))


def web_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def test_ctrl_c_stops_web_worker_beat_and_partners_cleanly(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE")
        and not k.startswith("PYTEST_")
    }
    port, sandbox_port = free_port(), free_port()
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        PORT=str(port),
        SANDBOX_PORT=str(sandbox_port),
        DEVRUN_GRACE_SECONDS="60",
    )
    for command in (["migrate", "--no-input", "-v", "0"], ["setup_periodic_tasks"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=300
        )
    launcher = subprocess.Popen(
        [sys.executable, "-m", "config.devrun"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    output: list[str] = []

    def read() -> None:
        assert launcher.stdout is not None
        for line in launcher.stdout:
            output.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: web_answers(port), 120, "the web server", output)
        wait_for(
            lambda: any("celery@" in line and "ready" in line for line in output),
            120,
            "the worker ready",
            output,
        )
        wait_for(lambda: any("beat: Starting" in line for line in output), 120, "beat", output)
        listening = f"listening on http://127.0.0.1:{sandbox_port}, answering to "
        wait_for(lambda: any(listening in line for line in output), 60, "the sandbox", output)
        pids = [
            int(line.rsplit("pid ", 1)[1].rstrip(")\n"))
            for line in output
            if line.startswith("system") and "started (pid" in line
        ]

        os.killpg(launcher.pid, signal.SIGINT)  # Ctrl-C
        code = launcher.wait(timeout=90)
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
        reader.join(timeout=5)

    text = "".join(output)
    assert code == 0, text[-5000:]
    assert len(pids) == 4
    assert [pid for pid in pids if alive(pid)] == []  # each, with its pool, has gone
    assert "Warm shutdown" in text
    # Without seed_demo's file the sandbox said so once and kept running, then stopped.
    assert text.count("no partners to play") == 1
    assert any(line.startswith("partners") and line.rstrip().endswith("stopped") for line in output)
    shutdown = text[text.index("stopping web") :]
    assert [line for line in shutdown.splitlines() if any(m in line for m in ERROR_MARKS)] == []
    assert text.rstrip().endswith("stopped")
