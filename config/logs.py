"""Logging helpers: a refused request is one line, a server error keeps its traceback."""

from __future__ import annotations

import logging


class ClientErrorsOneLine(logging.Filter):
    """Drop the traceback Django attaches to a 4xx it logs (``PermissionDenied``,
    ``SuspiciousOperation``, ``BadRequest``): a refusal is expected, and its traceback reads as
    a failure. 5xx records keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and status < 500:
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True
