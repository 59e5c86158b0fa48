"""Install capture triggers just in time, without stopping the platform, and release them.

A recording needs the capture triggers of its tables. Creating a trigger takes a SHARE ROW
EXCLUSIVE lock, dropping one an ACCESS EXCLUSIVE lock; held until the end of the recording's
long transaction they would stop every writer (and, after a drop, every reader) of the tables.
So the triggers are created and dropped on a second connection, one table per short
transaction, each attempt bounded by a lock timeout of a few milliseconds and retried: no
reader waits, and a writer waits at most that long.

Between install and release the triggers exist for every session; their ``WHEN`` clause keeps
them silent outside the recording's transaction. Recordings hold a shared advisory lock for
their lifetime and a release takes it exclusively, so a release never drops the triggers of a
recording still running; a release that finds one running leaves the triggers to its end.

Where the recording's own transaction already wrote a table (a test, a caller that writes
before recording) or created it, the second connection could not take its lock or see the
table: those triggers are created inside the recording's transaction instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from django.db import connections

from ledger import config
from ledger.capture import (
    TRIGGER_NAMES,
    TableCapture,
    render_capture,
    render_comments,
    render_drop,
)
from ledger.dbapi import LOCK_NOT_AVAILABLE, LedgerCursor, side_connection, sql, sqlstate
from ledger.dbapi import cursor as ledger_cursor
from ledger.errors import CaptureUnavailable
from ledger.registry import TableSpec

logger = logging.getLogger(__name__)

# Lock modes that conflict with CREATE TRIGGER's SHARE ROW EXCLUSIVE.
_CONFLICTING = (
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)

# Table names are resolved with quote_ident, so mixed-case names find their tables.
_OIDS = "ARRAY(SELECT to_regclass(quote_ident(x)) FROM unnest(%s::text[]) AS x)"

_INSTALLED = f"""
SELECT c.relname, obj_description(t.oid, 'pg_trigger'), count(*) OVER (PARTITION BY c.relname)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.oid = ANY({_OIDS}) AND t.tgname = ANY(%s)
"""

_OWN_LOCKS = f"""
SELECT DISTINCT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.granted AND l.mode = ANY(%s) AND c.oid = ANY({_OIDS})
"""


def installed_versions(cursor, tables: Iterable[str]) -> dict[str, str | None]:
    """The capture version installed on each table: its comment when all four triggers exist."""
    tables = list(tables)
    cursor.execute(_INSTALLED, [tables, list(TRIGGER_NAMES)])
    found: dict[str, set[str | None]] = {}
    complete: dict[str, bool] = {}
    for table, comment, count in cursor.fetchall():
        found.setdefault(table, set()).add(comment)
        complete[table] = count == len(TRIGGER_NAMES)
    return {
        t: next(iter(found[t])) if complete.get(t) and len(found.get(t, ())) == 1 else None
        for t in tables
    }


def acquire_shared(cursor) -> None:
    """Hold the capture lock shared for the rest of the transaction: no release drops the
    triggers while this recording runs."""
    cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [config.capture_lock_key()])


def ensure_capture(using: str, specs: tuple[TableSpec, ...]) -> dict[str, TableCapture]:
    """Make sure every table of ``specs`` has its current capture triggers; return them.

    Called at the start of a recording, inside its transaction, after ``acquire_shared``.

    Raises:
        RegistryError: a registered table or column does not exist.
        CaptureUnavailable: the triggers could not be installed within the install timeout.
    """
    connection = connections[using]
    with ledger_cursor(connection) as cursor:
        captures = {spec.table: render_capture(cursor, spec) for spec in specs}
        versions = installed_versions(cursor, captures)
        stale = [t for t, cap in captures.items() if versions[t] != cap.comment]
        if not stale:
            return captures
        cursor.execute(_OWN_LOCKS, [list(_CONFLICTING), stale])
        ours = {row[0] for row in cursor.fetchall()}
    outside = [t for t in stale if t not in ours]
    with side_connection(using) as side:
        with ledger_cursor(side) as cursor:
            visible = {t for t, v in _visible(cursor, outside).items() if v}
        for table in sorted(visible):
            _install_outside(side, captures[table])
    inside = [t for t in stale if t not in visible]
    if inside:
        with ledger_cursor(connection) as cursor:
            for table in sorted(inside):
                cursor.execute(render_drop(table))
                for statement in captures[table].statements:
                    cursor.execute(statement)
                cursor.execute(render_comments(captures[table]))
        logger.info(
            "capture installed inside the recording's transaction for %d table(s) it had "
            "already written: their writers wait for the recording",
            len(inside),
        )
    return captures


def _visible(cursor, tables: list[str]) -> dict[str, bool]:
    if not tables:
        return {}
    cursor.execute(
        "SELECT t, to_regclass(quote_ident(t)) IS NOT NULL FROM unnest(%s::text[]) AS t", [tables]
    )
    return dict(cursor.fetchall())


def _install_outside(side, capture: TableCapture) -> None:
    """Replace the table's capture triggers in one short transaction, retried on lock waits."""
    deadline = time.monotonic() + config.install_timeout()
    attempt = 0
    while True:
        attempt += 1
        try:
            with ledger_cursor(side) as cursor:
                cursor.execute("BEGIN")
                try:
                    cursor.execute(
                        "SELECT set_config('lock_timeout', %s, true)",
                        [f"{config.ddl_lock_timeout_ms()}ms"],
                    )
                    cursor.execute(render_drop(capture.spec.table))
                    for statement in capture.statements:
                        cursor.execute(statement)
                    cursor.execute(render_comments(capture))
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
                cursor.execute("COMMIT")
            return
        except Exception as exc:
            if sqlstate(exc) != LOCK_NOT_AVAILABLE or time.monotonic() > deadline:
                if sqlstate(exc) == LOCK_NOT_AVAILABLE:
                    raise CaptureUnavailable(
                        f"could not install capture on {capture.spec.table} within "
                        f"{config.install_timeout():g} s: other transactions keep writing it "
                        f"({attempt} attempts); nothing was changed, run again"
                    ) from exc
                raise
            time.sleep(min(0.005 * attempt, 0.1))


def release_capture(using: str = "default", tables: Iterable[str] | None = None) -> list[str]:
    """Drop the capture triggers when no recording is running. Safe to call at any time.

    Each table is released in its own short transaction under a short lock timeout, so readers
    wait at most milliseconds; a table kept busy past a few attempts keeps its (silent)
    triggers until the next release.

    Args:
        tables: the tables to release; default every table carrying capture triggers.

    Returns:
        The tables whose triggers are still installed (busy, or a recording is running).
    """
    left: list[str] = []
    with side_connection(using) as side:
        with ledger_cursor(side) as cursor:
            names = sorted(tables) if tables is not None else _tables_with_capture(cursor)
        for table in names:
            if not _release_one(side, table):
                left.append(table)
    return left


def _tables_with_capture(cursor) -> list[str]:
    cursor.execute(
        "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = ANY(%s) AND c.relnamespace IN "
        "(SELECT oid FROM pg_namespace WHERE nspname = ANY(current_schemas(false)))",
        [list(TRIGGER_NAMES)],
    )
    return sorted(row[0] for row in cursor.fetchall())


def _release_one(side, table: str, attempts: int = 5) -> bool:
    for attempt in range(1, attempts + 1):
        with ledger_cursor(side) as cursor:
            cursor.execute("BEGIN")
            try:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [config.capture_lock_key()])
                if not cursor.fetchone()[0]:
                    cursor.execute("ROLLBACK")
                    return False  # a recording is running: it releases at its end
                cursor.execute(
                    "SELECT set_config('lock_timeout', %s, true)",
                    [f"{config.ddl_lock_timeout_ms()}ms"],
                )
                cursor.execute(render_drop(table))
            except Exception as exc:
                cursor.execute("ROLLBACK")
                if sqlstate(exc) != LOCK_NOT_AVAILABLE:
                    raise
                time.sleep(0.01 * attempt)
                continue
            cursor.execute("COMMIT")
            return True
    return False


def lock_tables(cursor, tables: Iterable[str]) -> None:
    """ROW EXCLUSIVE on every captured table, in name order, until the transaction ends.

    Writers and readers never wait for it; DDL does, so nobody else drops or alters a captured
    table's triggers or columns while the recording runs. Taking a new lock mode also makes
    this backend read the triggers just committed by the install connection.
    """
    names = sorted(tables)
    if names:
        # As text: hosts patch Django's cursor and expect a string (django-cachalot lowers it).
        LedgerCursor(cursor).execute(
            sql.SQL("LOCK TABLE {} IN ROW EXCLUSIVE MODE").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in names)
            )
        )
