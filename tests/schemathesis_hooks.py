"""schemathesis hooks for the live-server run of ``.ci/schemathesis``.

Reusing an ``Idempotency-Key`` with another body is refused with a 422 by contract, and no
schema can say which keys a caller used before. Generated keys repeat (they shrink to the same
few values), so each request that carries a valid key gets a fresh one; invalid keys are left as
generated, so their refusal is still tested. Replays are tested in tests/api/test_idempotency.py.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import schemathesis

HEADER = "Idempotency-Key"
# accounts.idempotency.KEY_PATTERN, kept apart so that the hooks import nothing of Django.
KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any = None) -> None:
    headers = case.headers or {}
    key = headers.get(HEADER)
    if isinstance(key, str) and re.fullmatch(KEY_PATTERN, key.strip()):
        headers[HEADER] = uuid.uuid4().hex
