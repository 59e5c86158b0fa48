"""Staged change groups copied out of the session once, to be hashed without the connection.

The seal reads the staging table through the connection it records on; hashing needs only
what it read. Spooled to a temporary file (in memory up to ``MEMORY_BYTES``, then on disk), the
groups can be hashed in a thread while the same connection does other work for the seal,
and memory stays bounded whatever the size of the move (8 MB: the keys of a bci move, about
200k, fit; a larger move's go to disk, so the seal's peak memory does not grow with it).

A spool is a sequence of length-prefixed msgpack frames: each group's header, then its keys in
slices, in staging order.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator

import msgspec

MEMORY_BYTES = 8 << 20
_LENGTH = 4


class StagedGroup(msgspec.Struct, array_like=True, frozen=True, tag=True):
    """A staged change group as the seal hashes it; ``before`` and ``after`` as stored JSON."""

    seq: int
    step: int | None
    table: str
    op: str
    size: int
    before: str | None
    after: str | None


class Keys(msgspec.Struct, array_like=True, frozen=True, tag=True):
    """The next keys of the group before it, in entry order, as a JSON array (decoded by
    the reader, which runs alongside the connection's work)."""

    pks: str


class Stopped(Exception):
    """Reading the spool was stopped (``stop`` was set)."""


_decoder = msgspec.msgpack.Decoder(StagedGroup | Keys)


class Spool:
    """Write groups and their keys in order, then read them back once."""

    def __init__(self) -> None:
        self._file = tempfile.SpooledTemporaryFile(max_size=MEMORY_BYTES)  # noqa: SIM115
        self._encode = msgspec.msgpack.Encoder().encode
        self.groups = 0

    def add_group(self, group: StagedGroup) -> None:
        self._write(self._encode(group))
        self.groups += 1

    def add_keys(self, pks: str) -> None:
        self._write(self._encode(Keys(pks)))

    def _write(self, frame: bytes) -> None:
        self._file.write(len(frame).to_bytes(_LENGTH, "little"))
        self._file.write(frame)

    def frames(self, stop: threading.Event | None = None) -> Iterator[StagedGroup | Keys]:
        """Every frame written, in order; then the spool is closed.

        Raises:
            Stopped: ``stop`` was set before the end.
        """
        self._file.seek(0)
        read = self._file.read
        try:
            while header := read(_LENGTH):
                if stop is not None and stop.is_set():
                    raise Stopped
                yield _decoder.decode(read(int.from_bytes(header, "little")))
        finally:
            self.close()

    def close(self) -> None:
        self._file.close()
