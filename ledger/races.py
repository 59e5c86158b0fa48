"""Lost races, told apart by SQLSTATE whatever the driver (psycopg 2 or 3).

A deadlock, a lock timeout, a serialization failure, a cancelled statement or a lost
connection is not the operator's mistake: the transaction was rolled back by the server (or
never committed), nothing was changed, and the work can simply be run again. ``interrupted``
turns such an error into one ``Interrupted`` that says so; anything else is left alone.
"""

from __future__ import annotations

from django.db import DatabaseError, InterfaceError, OperationalError

from ledger.dbapi import (
    ADMIN_SHUTDOWN,
    DEADLOCK,
    LOCK_NOT_AVAILABLE,
    QUERY_CANCELED,
    SERIALIZATION_FAILURE,
    errors,
    sqlstate,
)
from ledger.errors import Interrupted
from ledger.interrupts import signal_name

# SQLSTATE -> the cause an operator reads.
_CAUSES = {
    DEADLOCK: "deadlock",
    LOCK_NOT_AVAILABLE: "lock timeout",
    SERIALIZATION_FAILURE: "serialization failure",
    QUERY_CANCELED: "cancelled",
    ADMIN_SHUTDOWN: "connection lost",
}


# Causes that leave a COMMIT unanswered: the transaction may have committed. A COMMIT the
# server answers with an error (a deferred key, a cancel) rolled back.
UNANSWERED = frozenset({"connection lost", "Ctrl-C", "SIGTERM"})


def cause(exc: BaseException) -> str | None:
    """What race ``exc`` lost, or None when it is not a lost race (a bug, bad data)."""
    if isinstance(exc, Interrupted):
        return exc.cause
    if isinstance(exc, KeyboardInterrupt):  # the running statement was cancelled too
        return signal_name(exc)
    if not isinstance(exc, DatabaseError | InterfaceError) and not _driver_error(exc):
        return None
    code = sqlstate(exc)
    if code in _CAUSES:
        return _CAUSES[code]
    if code is not None and code.startswith("08"):  # connection exception
        return "connection lost"
    if code is None and (isinstance(exc, InterfaceError) or _operational(exc)):
        return "connection lost"
    return None


def interrupted(
    exc: BaseException, what: str = "revert", lock_timeout: float | None = None
) -> Interrupted | None:
    """``exc`` as one ``Interrupted`` naming its cause, or None when it is no lost race.

    Args:
        exc: the error (Django's wrapper or the driver's own).
        what: the work it stopped, as the message names it ("revert", "move").
        lock_timeout: the lock timeout in force, in seconds (named for a lock timeout).
    """
    if isinstance(exc, Interrupted):
        return exc
    found = cause(exc)
    if found is None:
        return None
    hint = ""
    if found == "lock timeout" and lock_timeout is not None:
        hint = (
            f" (a lock was not granted within --lock-timeout {lock_timeout:g} s: other "
            "transactions hold it; run it when they are done, or pass a longer --lock-timeout)"
        )
    return Interrupted(
        f"the {what} was interrupted ({found}) and rolled back: nothing was changed; run it "
        f"again{hint}",
        found,
    )


def unanswered_commit(exc: BaseException, what: str) -> Interrupted | None:
    """``exc``, raised once only the COMMIT was left, as one ``Interrupted`` when it left the
    COMMIT unanswered (the work may have committed: the message does not say nothing
    changed); None when the server answered it (an error there rolled back)."""
    found = cause(exc)
    if found not in UNANSWERED:
        return None
    return Interrupted(
        f"the {what} was interrupted ({found}) while committing: it may have committed; "
        "list_moves shows whether it did",
        found,
    )


def _driver_error(exc: BaseException) -> bool:
    """A driver exception Django did not wrap (raised on a raw connection)."""
    return isinstance(exc, errors.Error)


def _operational(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError | errors.OperationalError)
