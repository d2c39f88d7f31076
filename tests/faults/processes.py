"""Real Celery processes for the fault tests: ``celery worker`` and ``celery beat`` started as
subprocesses on the test database, each with its own log file, stopped at the end of the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection


def database_url() -> str:
    """The test database, as the subprocesses' ``DATABASE_URL``."""
    db = connection.settings_dict
    user = db["USER"] or "postgres"
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class CeleryProcesses:
    """Starts ``celery -A config <command>`` subprocesses that share one environment."""

    def __init__(self, folder: Path, broker_url: str, **env: str) -> None:
        self.folder = folder
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": broker_url,
            "WEBHOOK_ALLOW_PRIVATE_URLS": "1",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(folder / "mail"),
            **env,
        }
        self.started: list[subprocess.Popen[bytes]] = []

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def _start(self, name: str, arguments: list[str], **env: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("wb")
        process = subprocess.Popen(  # our own celery, fixed arguments
            [sys.executable, "-m", "celery", "-A", "config", *arguments, "-l", "INFO"],
            cwd=settings.BASE_DIR,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(process)
        return process

    def worker(
        self,
        name: str,
        *,
        pool: str = "prefork",
        concurrency: int = 2,
        queues: str = "",
        **env: str,
    ) -> subprocess.Popen[bytes]:
        """A worker as deployed (``Procfile.dev``): prefork pool, no gossip or mingle."""
        arguments = [
            "worker",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"{name}@%h",
        ]
        if queues:
            arguments.append(f"--queues={queues}")
        return self._start(name, arguments, **env)

    def beat(self, name: str = "beat", **env: str) -> subprocess.Popen[bytes]:
        """Beat with the database scheduler of the settings; ticks at least every second."""
        return self._start(name, ["beat", "--max-interval=1"], **env)

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.5) -> float:
    """Poll ``check`` until it is true; returns the seconds it took. Fails after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not done within {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic() - started
