"""Planner settings of a move's transaction.

JIT off. A move's statements are chosen by stations, collections and keys whose row counts the
planner can only guess (id arrays, ``= ANY`` across joins), and a guess over the JIT thresholds
had statements compiled for longer than they ran: on the ``bci10`` demo database a move of one
40,000-capture station took 9.0-9.4 s with JIT, 8.5-8.7 s without (its plan under locks
0.71-0.79 -> 0.55 s, its recount 4.2-4.4 -> 4.0 s). A revert turns it off too
(``ledger.replay.engine``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection


@contextlib.contextmanager
def without_jit() -> Iterator[None]:
    """No JIT within the block, which runs inside a transaction; then the setting as it was
    found, so a caller's own transaction goes on as it was. A block that raises, or marks the
    transaction for rollback, leaves it to that rollback, as ``set_config(..., true)`` does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        was = cursor.fetchone()[0]
    yield
    if connection.needs_rollback:  # the rollback to come puts it back
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('jit', %s, true)", [was])
