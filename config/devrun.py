"""``make run``: the web server, one Celery worker, Celery beat and the partner sandbox in the
foreground.

The partner sandbox (config/partner_sandbox.py, "partners") plays the demo partners on
loopback: it receives their webhooks, acknowledges and reports through the partner API. The web
server and the worker are given ``PARTNER_SANDBOX_URL``, the one loopback origin that webhook
URLs may then use, and ``SITE_URL`` (unless set) so that the URLs in webhooks point at this
server.

Ctrl-C stops all four cleanly and the command exits 0. Each process runs in a session of its
own, so the terminal's Ctrl-C reaches only this launcher, which then asks each one to stop the
way it stops cleanly: the web server by SIGINT, the worker, beat and the sandbox by SIGTERM (a warm
shutdown: the worker finishes the tasks it holds and stops its pool itself). A second Ctrl-C,
or a process still running after ``DEVRUN_GRACE_SECONDS`` (30), is killed. If one process ends
by itself, the others are stopped and the launcher exits 1.

Run with ``python -m config.devrun``; ``PORT`` (8000) is the web server's port, ``SANDBOX_PORT``
(8001) the partner sandbox's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import IO

GRACE_SECONDS = float(os.environ.get("DEVRUN_GRACE_SECONDS", "30"))


@dataclass
class Managed:
    name: str
    argv: list[str]
    stop_signal: signal.Signals
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    pump: threading.Thread | None = None


def sandbox_url(sandbox_port: str) -> str:
    return f"http://127.0.0.1:{sandbox_port}"


def processes(port: str, sandbox_port: str = "8001") -> list[Managed]:
    python = sys.executable
    web = f"http://127.0.0.1:{port}"
    # What web and worker need to send to the sandbox and to tell it where to answer.
    demo = {
        "PARTNER_SANDBOX_URL": sandbox_url(sandbox_port),
        "SITE_URL": os.environ.get("SITE_URL", web),
    }
    return [
        Managed(
            "web",
            [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            signal.SIGINT,
            {"DEBUG": os.environ.get("DEBUG", "1"), **demo},
        ),
        Managed(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                "--without-gossip",
                "--without-mingle",
            ],
            signal.SIGTERM,
            demo,
        ),
        Managed(
            "beat",
            [python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"],
            signal.SIGTERM,
        ),
        Managed(
            "partners",
            [python, "-m", "config.partner_sandbox"],
            signal.SIGTERM,
            {"SANDBOX_PORT": sandbox_port, "PARTNER_SANDBOX_API": web},
        ),
    ]


class Launcher:
    def __init__(self, managed: list[Managed], out: IO[str]) -> None:
        self.managed = managed
        self.out = out
        self.width = max(len(m.name) for m in managed)
        self.lock = threading.Lock()
        self.stop_requested = threading.Event()
        self.force = threading.Event()

    def say(self, name: str, line: str) -> None:
        with self.lock:
            self.out.write(f"{name.ljust(self.width)} | {line.rstrip()}\n")
            self.out.flush()

    def _pump(self, item: Managed) -> None:
        assert item.process is not None and item.process.stdout is not None  # noqa: S101
        for line in item.process.stdout:
            self.say(item.name, line)

    def start(self) -> None:
        for item in self.managed:
            item.process = subprocess.Popen(  # noqa: S603  # our own commands, no shell
                item.argv,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **item.env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,  # the terminal's Ctrl-C is for the launcher only
            )
            item.pump = threading.Thread(target=self._pump, args=(item,), daemon=True)
            item.pump.start()
            self.say("system", f"{item.name} started (pid {item.process.pid})")

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stop_requested.is_set():
            self.force.set()
        self.stop_requested.set()

    def running(self) -> list[Managed]:
        return [m for m in self.managed if m.process is not None and m.process.poll() is None]

    def _kill(self, item: Managed) -> None:
        assert item.process is not None  # noqa: S101
        try:
            os.killpg(item.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return

    def stop(self) -> bool:
        """Ask every running process to stop; True if each stopped by itself in time."""
        for item in self.running():
            assert item.process is not None  # noqa: S101
            self.say("system", f"stopping {item.name}")
            try:
                item.process.send_signal(item.stop_signal)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + GRACE_SECONDS
        clean = True
        while self.running():
            if self.force.is_set() or time.monotonic() > deadline:
                for item in self.running():
                    self.say("system", f"{item.name} did not stop in time: killed")
                    self._kill(item)
                clean = False
                break
            time.sleep(0.1)
        for item in self.managed:
            if item.process is not None:
                item.process.wait()
            if item.pump is not None:
                item.pump.join(timeout=5)
        return clean

    def run(self) -> int:
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGTERM, self.on_signal)
        self.start()
        ended: Managed | None = None
        while not self.stop_requested.is_set():
            ended = next((m for m in self.managed if m not in self.running()), None)
            if ended is not None:
                break
            time.sleep(0.1)
        if ended is not None:
            assert ended.process is not None  # noqa: S101
            self.say("system", f"{ended.name} ended (exit {ended.process.returncode}): stopping")
        clean = self.stop()
        if ended is not None or not clean:
            return 1
        failed = [m for m in self.managed if m.process is not None and m.process.returncode != 0]
        for item in failed:
            assert item.process is not None  # noqa: S101
            self.say("system", f"{item.name} exited with {item.process.returncode}")
        if failed:
            return 1
        self.say("system", "stopped")
        return 0


def main() -> int:
    port = os.environ.get("PORT", "8000")
    sandbox_port = os.environ.get("SANDBOX_PORT", "8001")
    return Launcher(processes(port, sandbox_port), sys.stdout).run()


if __name__ == "__main__":
    sys.exit(main())
