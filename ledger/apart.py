"""Read committed rows on a connection of its own, in a thread, while this one works.

A revert verifies the move it undoes (every leaf hashed again) before it writes anything, and
the domain scans for rows written since the move. The ledger's rows are committed and never
change, and the domain's are those the revert has locked but not written yet, so another
connection reads them as well as this one: its server process (and the hashing) run on
another core while this connection locks, scans and replays. Inside an outer transaction (a
caller's atomic block, a test's) the rows may not be committed yet and only this connection
sees them: the read then runs at once, here.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import TypeVar

from django.db import connections

T = TypeVar("T")


def start(
    read: Callable[[str], T], using: str, name: str, *, inline: bool | None = None
) -> concurrent.futures.Future[T]:
    """Start ``read(using)``; its result (or error) is the future's.

    Args:
        read: reads committed rows only, through the connection of ``using`` it is given.
        using: the database alias.
        name: the thread's name (``ledger-<name>``).
        inline: run it here, at once (default: inside a transaction, whose rows another
            connection would not see).
    """
    if inline is None:
        inline = connections[using].in_atomic_block
    if inline:
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        try:
            done.set_result(read(using))
        except Exception as exc:
            done.set_exception(exc)
        return done
    pool = concurrent.futures.ThreadPoolExecutor(1, f"ledger-{name}")
    try:
        return pool.submit(_on_own_connection, read, using)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


def _on_own_connection(read: Callable[[str], T], using: str) -> T:
    # Django's connections are per thread: this one is opened here, and closed here.
    try:
        return read(using)
    finally:
        connections[using].close()
