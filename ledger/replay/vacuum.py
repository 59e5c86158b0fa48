"""Before a revert: VACUUM the tables its move rewrote in bulk, with no lock held.

A move that updated or deleted many rows of a table left their old versions behind. Undone
the same day, before autovacuum has come by, the revert's compare-and-swap would read
through them and prune them page by page inside its transaction, under its row locks: at
``bci`` the revert took 1.20-1.24x the move, and 1.04-1.08x once a plain VACUUM of the
move's four large tables (0.21 s) had run; at ``bci10``, 69.9 s against 60.8 s after a
2.9 s VACUUM. So the revert vacuums them itself while its verification hashes (on a
connection of its own), and starts its transaction once that is done: the platform's writers
never wait for it, as the revert holds no lock yet.

VACUUM blocks no read or write (its SHARE UPDATE EXCLUSIVE lock conflicts with DDL and other
vacuums only); ``SKIP_LOCKED`` passes over a table another vacuum or DDL holds, and
``TRUNCATE false`` never takes the ACCESS EXCLUSIVE lock that giving back a file's empty end
needs. A role that does not own a table gets a warning from the server and the table is left
as it is. Months after the move the tables are clean, and the visibility map lets VACUUM read
only the pages written since. Nothing here changes a row: a dry run vacuums too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import DatabaseError, InterfaceError, connections

from ledger import config
from ledger.dbapi import cursor as ledger_cursor
from ledger.dbapi import sql

logger = logging.getLogger(__name__)

_REWRITTEN = (
    "SELECT table_name FROM ledger_change WHERE move_id = %s AND op IN ('U', 'D') "
    "AND table_name = ANY(%s) GROUP BY table_name HAVING sum(row_count) >= %s "
    "ORDER BY table_name"
)


def rewritten(move_id: int, tables: Iterable[str], using: str) -> list[str]:
    """Those of ``tables`` the move updated or deleted at least
    ``LEDGER_REVERT_VACUUM_MIN_ROWS`` rows of; none inside a transaction (VACUUM cannot run
    in one)."""
    min_rows = config.revert_vacuum_min_rows()
    if min_rows is None or connections[using].in_atomic_block:
        return []
    with ledger_cursor(connections[using]) as cursor:
        cursor.execute(_REWRITTEN, [move_id, sorted(tables), min_rows])
        return [name for (name,) in cursor.fetchall()]


def vacuum(move_id: int, tables: list[str], using: str) -> list[str]:
    """VACUUM each of ``tables`` on the connection of ``using`` (in autocommit, outside any
    transaction); the tables vacuumed. One that fails (a statement timeout, a lost connection)
    is left as it is, with a warning: the vacuum only saves time, and the revert prunes the
    old versions as it meets them."""
    done = []
    for table in tables:
        try:
            _vacuum(table, using)
        except (DatabaseError, InterfaceError) as exc:
            logger.warning(
                "vacuuming %s before the revert of move %s failed (%s): reverting anyway",
                table,
                move_id,
                type(exc).__name__,
            )
        else:
            done.append(table)
    return done


def _vacuum(table: str, using: str) -> None:
    with ledger_cursor(connections[using]) as cursor:
        cursor.execute(
            sql.SQL("VACUUM (SKIP_LOCKED, TRUNCATE false) {}").format(sql.Identifier(table))
        )
