"""/metrics under gunicorn with several workers (prometheus-client's multiprocess mode): a scrape
of any worker counts the requests that every worker answered."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get("TEST_METRICS_GUNICORN_PORT", "18410"))
REQUESTS = 24


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "METRICS_TOKEN")
    }
    env["VAR_DIR"] = str(tmp_path_factory.mktemp("metrics-var"))
    multiproc = tmp_path_factory.mktemp("metrics-multiproc")
    # A file of an earlier run is removed when the server starts.
    (multiproc / "histogram_999999.db").write_bytes(b"stale")
    env["PROMETHEUS_MULTIPROC_DIR"] = str(multiproc)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=300,
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            "2",
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
                with socket.create_connection(("127.0.0.1", PORT), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)
        assert not (multiproc / "histogram_999999.db").exists()
        yield PORT, multiproc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _get(port: int, path: str) -> bytes:
    # A new connection each time (no keep-alive): the requests spread over the workers.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        body: bytes = response.read()
        return body


def _healthz_count(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "tscase_http_request_duration_seconds_count"
                and sample.labels.get("route") == "/healthz"
            ):
                total += sample.value
    return total


def test_every_workers_requests_are_counted(server: tuple[int, Path]) -> None:
    port, multiproc = server
    # Requests at once, batch after batch until both workers have answered some (each writes
    # its own file): which worker accepts a connection is the kernel's choice, and on a busy
    # machine one of them may take a whole batch.
    sent = 0
    with ThreadPoolExecutor(max_workers=6) as pool:
        while len(list(multiproc.glob("histogram_*.db"))) < 2 and sent < REQUESTS * 20:
            list(pool.map(lambda _: _get(port, "/healthz"), range(REQUESTS)))
            sent += REQUESTS
    assert len(list(multiproc.glob("histogram_*.db"))) == 2
    # Whichever worker answers each scrape, it reports the requests of both.
    for _ in range(6):
        text = _get(port, "/metrics").decode()
        assert _healthz_count(text) == sent
        assert "tscase_cases_open{" in text
