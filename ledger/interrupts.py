"""Ctrl-C (or SIGTERM) while a command waits on the database: the running statement is
cancelled at once.

Python runs its SIGINT handler (which raises ``KeyboardInterrupt``) only between bytecodes of
the main thread. psycopg 3 waits for a statement in Python and cancels it itself; psycopg2
waits inside libpq, so a move blocked on a lock ignored Ctrl-C until the lock came (or
``--lock-timeout`` ran out), and then printed a traceback. ``cancel_on_interrupt`` has the
signal's wake-up byte read by a thread of its own, which cancels the connection's running
statement (libpq's ``PQcancel``, safe from any thread, on either driver): the statement ends
with an error, Python's handler raises ``KeyboardInterrupt`` as usual, and the caller rolls
back and says so (``ledger.races``: cause ``Ctrl-C``).

SIGTERM (``kill``, ``timeout``, a container or service manager stopping the command) is
handled the same way while a command is open: it raises ``Terminated``, a ``KeyboardInterrupt``
of its own, so the command rolls back and says so (cause ``SIGTERM``) instead of ending with
nothing printed.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from typing import TYPE_CHECKING

from django.db import connections

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

    from django.db.backends.base.base import BaseDatabaseWrapper


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while ``cancel_on_interrupt`` was open."""


def signal_name(exc: KeyboardInterrupt) -> str:
    """How the operator names what stopped the command: ``SIGTERM`` or ``Ctrl-C``."""
    return "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def cancel_on_interrupt(using: str = "default") -> Iterator[None]:
    """While open, SIGINT and SIGTERM also cancel the statement running on connection
    ``using``; SIGTERM raises ``Terminated`` (the previous handler is put back on leaving).

    Outside the main thread (where signals cannot be watched) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)  # signal.set_wakeup_fd requires it
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    on_term = signal.signal(signal.SIGTERM, _terminate)
    done = threading.Event()
    wrapper = connections[using]  # Django's connections are per thread: this thread's

    def watch() -> None:
        while data := reader.recv(64):
            if done.is_set():
                return
            if signal.SIGINT in data or signal.SIGTERM in data:
                _cancel(wrapper)

    watcher = threading.Thread(target=watch, name="ledger-cancel-on-interrupt", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, on_term)
        signal.set_wakeup_fd(previous)
        done.set()
        with contextlib.suppress(OSError):
            writer.send(b"\0")  # wakes the watcher, which sees it is done
        watcher.join(5)
        reader.close()
        writer.close()


def _cancel(wrapper: BaseDatabaseWrapper) -> None:
    """Cancel what the connection runs (nothing if it runs nothing), best effort."""
    raw = wrapper.connection
    if raw is not None:
        with contextlib.suppress(Exception):  # a closed connection has nothing to cancel
            raw.cancel()
