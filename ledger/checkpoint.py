"""Checkpoints: the chain head after each sealed move, kept outside the database.

After a move commits, one JSON line (move id, digest, signature, signer, time) is appended to
``LEDGER_CHECKPOINT_FILE`` and flushed to disk; the commands also print it, for a ticket.
Checking a ledger against such a file catches what no hash inside the database can: a
rewrite that recomputed every digest (a checkpointed digest no longer matches), the deletion
of the newest moves (a checkpointed move is missing), and a forged move appended after the
last checkpoint is caught by its signature.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import msgspec

from ledger.errors import LedgerError
from ledger.structs import FORMAT_VERSION, VerifyFailure


class CheckpointLine(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One chain head, as appended after a move committed."""

    v: int = FORMAT_VERSION
    move_id: int
    digest: str
    signature: str | None
    signer: str | None
    committed_at: str


class CheckpointError(LedgerError):
    """A checkpoint file cannot be read, or a line is not a checkpoint."""


_decoder = msgspec.json.Decoder(CheckpointLine)


def append(path: str | Path, line: CheckpointLine) -> None:
    """Append one head and force it to disk (a checkpoint that can vanish is no checkpoint)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as handle:
        handle.write(msgspec.json.encode(line) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())


def read(path: str | Path) -> list[CheckpointLine]:
    """Every head in the file, in order.

    Raises:
        CheckpointError: the file cannot be read, or a line is not a checkpoint.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read the checkpoint {path}: {exc.strerror}") from exc
    lines = []
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        try:
            lines.append(_decoder.decode(text))
        except msgspec.DecodeError as exc:
            raise CheckpointError(f"{path}, line {number}: not a checkpoint line ({exc})") from exc
    return lines


def compare(lines: Iterable[CheckpointLine], sealed: dict[int, str]) -> list[VerifyFailure]:
    """Checkpointed heads the ledger no longer holds as they were.

    Args:
        lines: the checkpoint, oldest first.
        sealed: move id -> digest, as stored in the ledger.
    """
    failures = []
    for line in lines:
        stored = sealed.get(line.move_id)
        if stored is None:
            failures.append(
                VerifyFailure(
                    move_id=line.move_id,
                    entry_id=None,
                    reason=f"move {line.move_id} was checkpointed but is not in the ledger "
                    "(the newest moves were deleted, or the ledger was rebuilt)",
                )
            )
        elif stored != line.digest:
            failures.append(
                VerifyFailure(
                    move_id=line.move_id,
                    entry_id=None,
                    reason=f"move {line.move_id} has digest {stored} but was checkpointed with "
                    f"{line.digest}: the ledger was rewritten since",
                )
            )
    return failures
