"""Benchmark settings: the service's settings on a database of its own, plus baseline views.

The benchmark never touches the service's own data: on PostgreSQL it uses ``<db>_bench`` next
to the database of ``DATABASE_URL``; on SQLite, ``var/bench.sqlite3``.
"""

import os

from config.settings import *  # noqa: F403
from config.settings import DATABASES, VAR_DIR

ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["*"]
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["NAME"] = os.environ.get(
        "BENCH_DATABASE_NAME", f"{DATABASES['default']['NAME']}_bench"
    )
else:
    DATABASES["default"]["NAME"] = str(VAR_DIR / "bench.sqlite3")

# Benchmarks measure the service, not a broker: notices are recorded in the outbox as usual and
# handed to an in-memory transport.
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
