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
from typing import TYPE_CHECKING

from django.db import connections

from ledger import config
from ledger.capture import (
    TRIGGER_NAMES,
    TableCapture,
    read_all_columns,
    render_capture,
    render_drop,
)
from ledger.dbapi import (
    LOCK_NOT_AVAILABLE,
    OBJECT_IN_USE,
    LedgerCursor,
    side_connection,
    sql,
    sqlstate,
)
from ledger.dbapi import cursor as ledger_cursor
from ledger.errors import CaptureUnavailable
from ledger.registry import TableSpec

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from ledger.dbapi import Cursor

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


def installed_versions(cursor: Cursor, tables: Iterable[str]) -> dict[str, str | None]:
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


def acquire_shared(cursor: Cursor) -> None:
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
        columns = read_all_columns(cursor, specs)
        captures = {
            spec.table: render_capture(cursor, spec, columns[spec.table]) for spec in specs
        }
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
        _install_all_outside(side, [captures[t] for t in sorted(visible)])
    inside = [t for t in stale if t not in visible]
    if inside:
        with ledger_cursor(connection) as cursor:
            for table in sorted(inside):
                cursor.execute(captures[table].script)
        logger.info(
            "capture installed inside the recording's transaction for %d table(s) it had "
            "already written: their writers wait for the recording",
            len(inside),
        )
    return captures


def _visible(cursor: Cursor, tables: list[str]) -> dict[str, bool]:
    if not tables:
        return {}
    cursor.execute(
        "SELECT t, to_regclass(quote_ident(t)) IS NOT NULL FROM unnest(%s::text[]) AS t", [tables]
    )
    return dict(cursor.fetchall())


def _install_script(capture: TableCapture) -> str:
    """The table's capture triggers replaced in one short transaction of their own."""
    return (
        f"BEGIN; SET LOCAL lock_timeout = '{config.ddl_lock_timeout_ms()}ms';\n"
        f"{capture.script};\nCOMMIT"
    )


def _install_all_outside(side: BaseDatabaseWrapper, captures: list[TableCapture]) -> None:
    """Replace the triggers of every table in one round trip, each table still in a short
    transaction of its own; the tables left by a lock wait are then installed one at a time,
    retried (``_install_outside``).

    One round trip, not one per table: a revert installs while its verification hashes in
    a thread, and each round trip waited for that thread to let go of the GIL (up to 5 ms):
    34 tables took 0.28 s instead of 0.03 s.
    """
    # The tables before one that waits are committed: only it and those after it are left.
    if not captures or _attempt(side, ";\n".join(map(_install_script, captures))) is None:
        return
    with ledger_cursor(side) as cursor:
        versions = installed_versions(cursor, [capture.spec.table for capture in captures])
    for capture in captures:
        if versions[capture.spec.table] != capture.comment:
            _install_outside(side, capture)


def _install_outside(side: BaseDatabaseWrapper, capture: TableCapture) -> None:
    """Replace the table's capture triggers in one short transaction (one round trip),
    retried on lock waits."""
    deadline = time.monotonic() + config.install_timeout()
    script = _install_script(capture)
    attempt = 0
    while True:
        attempt += 1
        waited = _attempt(side, script)
        if waited is None:
            return
        if time.monotonic() > deadline:
            raise CaptureUnavailable(
                f"could not install capture on {capture.spec.table} within "
                f"{config.install_timeout():g} s: other transactions keep writing it "
                f"({attempt} attempts); nothing was changed, run again"
            ) from waited
        time.sleep(min(0.005 * attempt, 0.1))


def _attempt(side: BaseDatabaseWrapper, script: str) -> Exception | None:
    """Run an install script. Returns None once it ran, or the lock timeout it met (its open
    transaction rolled back).

    Raises:
        Exception: any other error, once rolled back.
    """
    try:
        with ledger_cursor(side) as cursor:
            cursor.execute(script)
        return None
    except Exception as exc:
        with ledger_cursor(side) as cursor:
            cursor.execute("ROLLBACK")
        if sqlstate(exc) != LOCK_NOT_AVAILABLE:
            raise
        return exc


def release_capture(using: str = "default", tables: Iterable[str] | None = None) -> list[str]:
    """Drop the capture triggers when no recording is running. Safe to call at any time.

    Each table is released in its own short transaction under a short lock timeout, so readers
    wait at most milliseconds; a table kept busy past a few attempts keeps its (silent)
    triggers until the next release.

    Then ``using``'s own session is closed, when it is outside any transaction (see
    ``close_recording_session``).

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
    close_recording_session(using)
    return left


def close_recording_session(using: str = "default") -> None:
    """Close ``using``'s connection when it is outside any transaction; the next query opens a
    new one.

    PL/pgSQL compiles a trigger function once per trigger and keeps that copy, with its cached
    plans, for the life of the session that fired it; the copy of a dropped trigger is never
    freed. Each move installs new triggers, so a session that records move after move (a
    worker with a persistent connection) kept about 8 MB more per move and revert at ``bci``,
    without end. A session inside a transaction (a caller's ``atomic`` block, one managing its
    own transactions) is left open: closing it would lose that transaction.
    """
    connection = connections[using]
    # Autocommit is off inside ``atomic`` and for a caller managing its own transactions.
    if connection.connection is not None and connection.get_autocommit():
        connection.close()


def _tables_with_capture(cursor: Cursor) -> list[str]:
    cursor.execute(
        "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = ANY(%s) AND c.relnamespace IN "
        "(SELECT oid FROM pg_namespace WHERE nspname = ANY(current_schemas(false)))",
        [list(TRIGGER_NAMES)],
    )
    return sorted(row[0] for row in cursor.fetchall())


# Drops the table's capture triggers only while no recording holds the capture lock; one round
# trip. Returns false when a recording is running.
_RELEASE = """
DO $$ BEGIN
    IF NOT pg_try_advisory_xact_lock({key}) THEN
        RAISE EXCEPTION 'ledger: a recording is running' USING ERRCODE = 'object_in_use';
    END IF;
    PERFORM set_config('lock_timeout', '{timeout}ms', true);
    EXECUTE {drop};
END $$
"""


def _release_one(side: BaseDatabaseWrapper, table: str, attempts: int = 5) -> bool:
    with ledger_cursor(side) as cursor:
        statement = sql.SQL(_RELEASE).format(
            key=sql.Literal(config.capture_lock_key()),
            timeout=sql.SQL(str(config.ddl_lock_timeout_ms())),
            drop=sql.Literal(render_drop(table).as_string(cursor.cursor.connection)),
        )
        for attempt in range(1, attempts + 1):
            try:
                cursor.execute(statement)
                return True
            except Exception as exc:
                if sqlstate(exc) == OBJECT_IN_USE:
                    return False  # the running recording releases at its end
                if sqlstate(exc) != LOCK_NOT_AVAILABLE:
                    raise
                time.sleep(0.01 * attempt)
    return False


def lock_tables(cursor: Cursor, tables: Iterable[str]) -> None:
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
