"""gunicorn settings for the web tier: ``gunicorn -c config/gunicorn.conf.py``.

The request limits are gunicorn's defaults, written out because the API schema declares what
they answer: a longer request line is a 414, a larger header or more headers a 431, both as
problem details (``config.webserver.ProblemSyncWorker``). Bind address and worker count come
from the command line or ``GUNICORN_CMD_ARGS`` (docs/operations.md).
"""

import os
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

wsgi_app = "config.wsgi:application"
worker_class = "config.webserver.ProblemSyncWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190


# Prometheus multiprocess mode (config/metrics.py): with PROMETHEUS_MULTIPROC_DIR set, every
# worker writes its request latencies there and /metrics sums them. The directory is emptied
# when the server starts (figures of an earlier run would be summed in), and a dead worker's
# files are marked so that its live gauges stop counting.
def on_starting(server: object) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def child_exit(server: object, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
