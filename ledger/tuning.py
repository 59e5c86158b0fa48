"""Transaction-local planner settings for statements whose row counts the planner guesses.

JIT off. A revert's statements join through the ledger's key arrays, and a domain's through
its id lists: the planner can only guess their row counts, and a guess over the JIT thresholds
has a statement compiled for longer than it runs. On the ``bci10`` demo database a revert of
one 40,000-capture station spent 2.3 s compiling checks that ran in milliseconds (11.3-11.6 s,
8.8-9.1 s without JIT), its move 0.5-0.8 s (9.0-9.4 s, 8.5-8.7 s); the revert's share grew
with the ledger, whose size its estimates follow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections


@contextlib.contextmanager
def without_jit(using: str = "default") -> Iterator[None]:
    """No JIT within the block, which runs inside a transaction; then the setting as it was
    found, so a caller's own transaction goes on as it was. A block that raises, or marks the
    transaction for rollback, leaves it to that rollback, as ``set_config(..., true)`` does."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        was = cursor.fetchone()[0]
    yield
    if connection.needs_rollback:  # the rollback to come puts it back
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('jit', %s, true)", [was])


# PostgreSQL counts lock_timeout in whole milliseconds, up to INT_MAX; 0 means "wait forever".
_LOCK_TIMEOUT_MS = (1, 2**31 - 1)


def lock_timeout_problem(seconds: float) -> str | None:
    """Why ``--lock-timeout SECONDS`` cannot be used, or None: below a millisecond it would
    reach PostgreSQL as 0 ms, which waits forever; past INT_MAX ms, inf or nan, it fails."""
    low, high = _LOCK_TIMEOUT_MS
    if not low <= seconds * 1000 <= high:  # False for nan too
        return (
            f"--lock-timeout must be a number of seconds from {low / 1000:g} to "
            f"{high // 1000} (PostgreSQL counts it in whole milliseconds), not {seconds:g}"
        )
    return None


def set_lock_timeout(seconds: float, using: str = "default") -> None:
    """``lock_timeout`` for the rest of the transaction (a move's, a revert's).

    Raises:
        ValueError: ``lock_timeout_problem`` refuses it (the commands check it first).
    """
    if problem := lock_timeout_problem(seconds):
        raise ValueError(problem)
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, true)", [f"{round(seconds * 1000)}ms"]
        )
