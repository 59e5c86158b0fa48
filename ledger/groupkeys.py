"""The keys of a large change group, read from the database a window at a time.

A change group is one row of ``ledger_change`` whatever its size: a move of ``bci10``'s
730,000 captures writes one group of 730,000 keys. Verification, export and proofs read a
move's groups as a stream (``ledger.queries.iter_groups``), and held each group's keys whole:
255 MB of memory to verify that move, 355 MB to export it. A group of more than
``INLINE_KEYS`` keys now comes without them, as a ``StoredKeys``: a sequence that reads
``pks[a:b]`` of its row as it is asked for, ``WINDOW_KEYS`` at a time, and keeps one window.
Every reader asks in order (slices of 16,384 hashed, 10,000 exported), so each window is read
once: 6 windows for that group, each a query that reads the stored array.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

from django.db import connections

# Groups of up to this many keys come whole with their row; a fetched batch of rows then
# holds at most ``LEDGER_FETCH_SIZE`` times this many keys.
INLINE_KEYS = 1 << 14
# Keys read per query from a larger group, and held at once.
WINDOW_KEYS = 1 << 17

_WINDOW = "SELECT pks[%s:%s] FROM ledger_change WHERE id = %s"


class StoredKeys(Sequence[str]):
    """The ``size`` keys of the change group ``change_id``, read a window at a time."""

    def __init__(self, change_id: int, size: int, using: str) -> None:
        self._id = change_id
        self._size = size
        self._using = using
        self._start = 0
        self._window: list[str] = []

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._size)
            if step != 1:
                return self._read(0, self._size)[index]
            return self._read(start, stop)
        position = index + self._size if index < 0 else index
        if not 0 <= position < self._size:
            raise IndexError("change group key index out of range")
        return self._read(position, position + 1)[0]

    def __iter__(self) -> Iterator[str]:
        for start in range(0, self._size, WINDOW_KEYS):
            yield from self._read(start, min(start + WINDOW_KEYS, self._size))

    def _read(self, start: int, stop: int) -> list[str]:
        if stop <= start:
            return []
        if not (self._start <= start and stop <= self._start + len(self._window)):
            end = start + max(WINDOW_KEYS, stop - start)
            with connections[self._using].cursor() as cursor:
                cursor.execute(_WINDOW, [start + 1, end, self._id])
                (keys,) = cursor.fetchone()
            self._start, self._window = start, list(keys or ())
        return self._window[start - self._start : stop - self._start]
