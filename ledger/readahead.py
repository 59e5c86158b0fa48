"""Read ahead: fetch the next batch of rows while the caller works on the current one.

A verifier or exporter alternates between waiting on the server (which builds the rows) and
hashing them in Python. The drivers release the GIL while they wait, so a thread that fetches
the next batch lets both run at once: the server on one core, Python on another.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
# How long a blocked hand-over waits before looking again whether the reader stopped.
_POLL_SECONDS = 0.05


def read_ahead(fetch: Callable[[], list[T]], depth: int = 2) -> Generator[list[T], None, None]:
    """The batches ``fetch`` returns, up to the first empty one, fetched in a thread at most
    ``depth`` batches ahead of the caller.

    An error raised by ``fetch`` is raised here, in the caller, after the batches before it.
    Closing the iterator early (``close()``, or leaving a ``for`` loop over it) stops the
    thread and waits for it, so the cursor behind ``fetch`` is idle once this returns.
    """
    batches: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        while not stop.is_set():
            try:
                batches.put(item, timeout=_POLL_SECONDS)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            while not stop.is_set():
                batch = fetch()
                if not batch or not hand_over(batch):
                    break
        except BaseException as exc:  # raised again in the caller
            hand_over(exc)
            return
        hand_over(_DONE)

    reader = threading.Thread(target=produce, name="ledger-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = batches.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join()
