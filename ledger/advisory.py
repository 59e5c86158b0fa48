"""Advisory locks taken without waiting: a session that cannot have one is told who holds it.

A move claims its stations, and a revert its move, this way: a second one is refused at once,
naming the session that holds the lock (its ``application_name``, pid and since when), instead
of waiting for it and ending as a bare lock timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger.dbapi import Cursor

# The session holding a two-key advisory lock of this database.
_HOLDER = """
SELECT a.pid, coalesce(nullif(a.application_name, ''), 'another session'),
    to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid = %s::oid AND l.objid = %s::oid
AND l.objsubid = 2 AND l.granted AND l.pid <> pg_backend_pid()
AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1
"""


def try_lock(cursor: Cursor, key: int, subkey: int) -> str | None:
    """Take advisory lock ``(key, subkey)`` for the transaction, without waiting.

    Returns:
        None once it is held; else who holds it, as ``name (pid P, since T UTC)``.
    """
    cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [key, subkey])
    if cursor.fetchone()[0]:
        return None
    cursor.execute(_HOLDER, [key, subkey])
    row = cursor.fetchone()
    return f"{row[1]} (pid {row[0]}, since {row[2]} UTC)" if row else "another session"
