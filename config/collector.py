"""The garbage collector of a web worker, tuned for requests that allocate many objects.

A signal batch parses into some 3,000 dicts and lists, and an admin page builds as many model
instances. With CPython's default thresholds (700, 10, 10), the cycle collector runs every 700
container allocations and walks the whole heap (Django, its URL resolvers, templates, the ORM's
models) every 70,000: measured in-process, about 7 ms of every 1,000-signal batch went to it
(docs/performance.md). A worker therefore, once its application is loaded:

- moves what is alive then (the loaded application) into the permanent generation
  (``gc.freeze``), so that no collection walks it again;
- collects the young generation every ``WEB_GC_THRESHOLD`` allocations (50,000 unless set; the
  other two thresholds stay at their defaults).

Reference counting still frees almost everything at once; only garbage in reference cycles
waits a little longer. ``WEB_GC_THRESHOLD=700`` restores CPython's default.
"""

from __future__ import annotations

import gc
import os

DEFAULT_THRESHOLD = 50_000


def collector_tune() -> None:
    """Freeze the loaded application and raise the young generation's threshold."""
    raw = os.environ.get("WEB_GC_THRESHOLD", "").strip()
    try:
        threshold = int(raw) if raw else DEFAULT_THRESHOLD
    except ValueError:
        raise SystemExit(f"WEB_GC_THRESHOLD must be a whole number, not {raw!r}") from None
    if threshold < 1:
        raise SystemExit(f"WEB_GC_THRESHOLD must be at least 1, not {threshold}")
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)
