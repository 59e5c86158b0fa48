"""Pause CPython's cycle collector while a move's entries are verified.

Verifying a move allocates a few containers per entry (the decoded row values,
the key lists), none in a reference cycle: reference counting frees every one. The cycle
collector would still run hundreds of times per 100k entries, its full passes walking every
object of the process (Django's included): a fifth of the time of verifying a move of
single-row groups (bench/ledger_capture.py). Nothing is kept from being freed meanwhile but
cyclic garbage, which waits for the collector to run again.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The cycle collector off for the block, then as it was found (an application that
    turned it off keeps it off)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
