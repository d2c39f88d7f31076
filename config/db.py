"""One read on the gateway's hot paths, without the connection health check's extra round trip.

``CONN_HEALTH_CHECKS`` makes Django send ``SELECT 1`` before a request's first query, so that a
connection the database dropped (a restart, a failover) is replaced before it fails a request.
On the lookup, the gateway check and an idle mirror's poll, that is a second round trip for one
read. :func:`read_with_one_retry` skips it and gets the same outcome another way: the read runs
on the connection as it is, and if the connection turns out to be dead it is closed and the read
runs once more on a new one. Only outside a transaction (where nothing is lost by retrying a
read); a database still down fails the second try as it would have failed the check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

T = TypeVar("T")


def read_with_one_retry(read: Callable[[], T]) -> T:
    if connection.in_atomic_block:
        return read()
    connection.health_check_done = True  # type: ignore[attr-defined]  # set in __init__
    try:
        return read()
    except (OperationalError, InterfaceError):
        connection.close()
        return read()
