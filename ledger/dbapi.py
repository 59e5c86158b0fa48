"""The one place that knows which PostgreSQL driver Django runs on (psycopg 3 or psycopg2).

Everything else in the ledger composes SQL with ``dbapi.sql`` (the driver's ``sql`` module, as
Django's own ``psycopg_any`` picks it), executes through Django's cursor wrappers, and asks this
module for the few facts whose spelling differs between the drivers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from django.db import connections
from django.db.backends.postgresql.psycopg_any import errors, is_psycopg3, sql

_sql = sql

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "Cursor",
    "batch_fetcher",
    "cursor",
    "errors",
    "in_failed_transaction",
    "is_psycopg3",
    "side_connection",
    "sql",
    "sqlstate",
]

# SQLSTATEs of a lost race: the statement can be retried from the start.
DEADLOCK = "40P01"
SERIALIZATION_FAILURE = "40001"
LOCK_NOT_AVAILABLE = "55P03"
OBJECT_IN_USE = "55006"
QUERY_CANCELED = "57014"  # statement_timeout
ADMIN_SHUTDOWN = "57P01"


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (Django's wrapper or the driver's own), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(code, str):
            return code
        current = current.__cause__ or current.__context__
    return None


def in_failed_transaction(connection: BaseDatabaseWrapper) -> bool:
    """True when the connection's transaction is aborted (only ROLLBACK is possible)."""
    raw = connection.connection
    if raw is None:
        return False
    if is_psycopg3:
        from psycopg.pq import TransactionStatus

        return bool(raw.info.transaction_status == TransactionStatus.INERROR)
    from psycopg2.extensions import TRANSACTION_STATUS_INERROR

    return bool(raw.get_transaction_status() == TRANSACTION_STATUS_INERROR)


def connection_lost(connection: BaseDatabaseWrapper) -> bool:
    """True when the connection to the server is gone (killed backend, network)."""
    raw = connection.connection
    if raw is None:
        return True
    return bool(raw.closed)


class Cursor(Protocol):
    """What the ledger asks of a cursor: Django's ``CursorWrapper`` or a ``LedgerCursor``."""

    def execute(self, sql: Any, params: Any = ...) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...


class LedgerCursor:
    """Django's cursor, also taking composed SQL (``dbapi.sql``), rendered to text first.

    Statements go through Django's execute wrappers, so pghistory's context reaches the
    triggers of the writes a replay makes; those wrappers expect text, not ``Composed``.
    """

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped

    def execute(self, sql: Any, params: Any = None) -> Any:
        if isinstance(sql, _sql.Composable):
            sql = sql.as_string(self._wrapped.cursor.connection)
        return self._wrapped.execute(sql, params)

    def fetchone(self) -> Any:
        return self._wrapped.fetchone()

    def fetchall(self) -> Sequence[Any]:
        return self._wrapped.fetchall()  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wrapped, name)


@contextmanager
def cursor(connection: BaseDatabaseWrapper) -> Iterator[LedgerCursor]:
    """A cursor of ``connection`` that accepts composed SQL."""
    with connection.cursor() as wrapped:
        yield LedgerCursor(wrapped)


def batch_fetcher(wrapped: Any, size: int) -> Callable[[], list[Any]]:
    """A call fetching the next ``size`` rows of Django's server-side cursor ``wrapped``
    (``connection.chunked_cursor()``, executed), made for a read-ahead thread
    (``ledger.readahead``).

    psycopg2 waits for a batch in one libpq call that releases the GIL. psycopg 3's
    ``fetchmany`` waits in Python, taking the GIL back each time part of the batch arrives
    (every 8 kB the server flushes): beside a caller busy hashing, each of those wake-ups
    waits on it. Fetching 100k single-row groups (0.29 s) beside 0.21 s of hashing took
    0.46 s in all, against 0.37 s with psycopg2. On psycopg 3 a batch is therefore fetched
    in one blocking libpq call that releases the GIL (``PGconn.exec_``), under the
    connection's lock, and its rows loaded by the connection's own loaders; an error is
    raised as Django raises it.
    """
    if not is_psycopg3:
        return lambda: wrapped.fetchmany(size)
    from psycopg import errors as driver_errors
    from psycopg import pq
    from psycopg.adapt import Transformer

    server_cursor = wrapped.cursor
    conn = server_cursor.connection
    fetch = (
        sql.SQL("FETCH FORWARD {} FROM {}")
        .format(sql.Literal(size), sql.Identifier(server_cursor.name))
        .as_bytes(conn)
    )
    transformer = Transformer(conn)
    django_errors = wrapped.db.wrap_database_errors

    def fetch_batch() -> list[Any]:
        with django_errors, conn.lock:
            result = conn.pgconn.exec_(fetch)
            if result.status != pq.ExecStatus.TUPLES_OK:
                raise driver_errors.error_from_result(result, encoding=conn.info.encoding)
            transformer.set_pgresult(result)
            return transformer.load_rows(0, result.ntuples, tuple)  # type: ignore[no-any-return]

    return fetch_batch


@contextmanager
def side_connection(using: str = "default") -> Iterator[BaseDatabaseWrapper]:
    """A second connection to the same database, in autocommit, closed on exit.

    Used for work that must commit on its own, outside the caller's transaction: installing
    and releasing capture triggers in short transactions of their own.
    """
    side = connections[using].copy()
    try:
        side.ensure_connection()
        yield side
    finally:
        side.close()
