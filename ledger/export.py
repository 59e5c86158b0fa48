"""Export sealed moves as JSON lines, and verify such a file offline (no database).

A move is a ``header`` line, one ``step`` line per step, one ``entry`` line per entry (with
its leaf hash) and a closing ``seal`` line with the move's digest and chain link. A file of
one move (``export_move``) holds just that; a file of a range of moves (``export_moves``)
starts with a ``range`` line naming the first and last move, then the moves in id order. The
JSON Schema of a line is ``export_schema()``, published as ``docs/ledger-export.schema.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import msgspec

from ledger.digest import (
    MerkleBuilder,
    encode,
    entry_bytes,
    group_leaves,
    leaf_hash,
    move_digest,
)
from ledger.errors import ExportFormatError, MoveNotFound
from ledger.proof import ChainCheck, signature_problem
from ledger.signing import fingerprint
from ledger.structs import (
    EntryLine,
    EntryPayload,
    ExportLine,
    HeaderFields,
    HeaderLine,
    MoveHeader,
    RangeLine,
    SealLine,
    StepLine,
    StepRecord,
    VerifyFailure,
    VerifyReport,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

_HEADER_FIELDS = HeaderFields.__struct_fields__
_ENTRY_FIELDS = EntryPayload.__struct_fields__
_STEP_FIELDS = StepRecord.__struct_fields__
_SLICE = 10_000


def export_schema() -> bytes:
    """The JSON Schema of one export line, generated from the msgspec structs."""
    schema = msgspec.json.schema(ExportLine)
    return msgspec.json.format(encode(schema), indent=2) + b"\n"


def export_move(move_id: int, file: BinaryIO, using: str = "default") -> SealLine:
    """Stream a sealed move to ``file`` as JSON lines.

    Args:
        move_id: the move to export.
        file: a binary file open for writing.
        using: the database alias.

    Returns:
        The seal line written last (digest, chain link, entries root).

    Raises:
        MoveNotFound: no such move.
    """
    from ledger.queries import (  # the offline path needs no database
        iter_groups,
        read_header,
        signature_of,
    )

    header, digest = read_header(move_id, using)
    fields = {name: getattr(header, name) for name in _HEADER_FIELDS}
    file.write(encode(HeaderLine(**fields)) + b"\n")
    for step in header.steps:
        file.write(encode(StepLine(**{f: getattr(step, f) for f in _STEP_FIELDS})) + b"\n")
    for group in iter_groups(move_id, using):
        common: dict[str, Any] = {
            "move_id": move_id,
            "step_id": group.step_id,
            "table": group.table,
            "op": group.op,
            "before": group.before,
            "after": group.after,
        }
        # Written in slices, each slice's leaves hashed on their own: a group can hold
        # millions of entries, and its keys are read a window at a time.
        for start in range(0, group.size, _SLICE):
            pks = group.pks[start : start + _SLICE]
            leaves = group_leaves(first_id=group.id + start, pks=pks, **common)
            lines = [
                encode(EntryLine(id=group.id + start + offset, pk=pk, leaf=leaf.hex(), **common))
                for offset, (pk, leaf) in enumerate(zip(pks, leaves, strict=True))
            ]
            file.write(b"\n".join(lines) + b"\n")
    seal = SealLine(
        move_id=move_id,
        entry_count=header.entry_count,
        entries_root=header.entries_root,
        prev_digest=header.prev_digest,
        digest=digest,
        signature=signature_of(move_id, using),
    )
    file.write(encode(seal) + b"\n")
    return seal


def require_moves(first: int, last: int, using: str = "default") -> None:
    """Check that every move of ``first..last`` is sealed.

    Raises:
        MoveNotFound: the first move of the range that does not exist.
        ValueError: ``last`` is before ``first``.
    """
    from ledger.queries import sealed_move_ids

    if last < first:
        raise ValueError(f"the range {first}..{last} is empty: give the first move first")
    if missing := sorted(set(range(first, last + 1)) - set(sealed_move_ids(first, last, using))):
        raise MoveNotFound(missing[0])


def export_moves(first: int, last: int, file: BinaryIO, using: str = "default") -> list[SealLine]:
    """Stream the sealed moves ``first..last`` (both included) to ``file``, after a ``range``
    line that lets a verifier see a move missing, or the file cut after a seal line.

    Args:
        first: the first move to export.
        last: the last move to export (``>= first``).
        file: a binary file open for writing.
        using: the database alias.

    Returns:
        The seal line of each move, in order.

    Raises:
        MoveNotFound: a move of the range does not exist (checked before anything is written).
        ValueError: ``last`` is before ``first``.
    """
    require_moves(first, last, using)
    file.write(encode(RangeLine(first_move=first, last_move=last)) + b"\n")
    return [export_move(move_id, file, using) for move_id in range(first, last + 1)]


class _FileCheck:
    """State of the offline verification of one move of a file, line by line."""

    def __init__(self, header: HeaderLine) -> None:
        self.header = header
        self.steps: list[StepRecord] = []
        self.seal: SealLine | None = None
        self.builder = MerkleBuilder()
        self.failure: VerifyFailure | None = None
        self.next_id = header.first_entry_id
        self.digest: str | None = None  # recomputed from the header, steps and root

    def fail(self, entry_id: int | None, reason: str) -> None:
        if self.failure is None:
            self.failure = VerifyFailure(move_id=self.header.id, entry_id=entry_id, reason=reason)

    def entry(self, line: EntryLine, number: int) -> None:
        header = self.header
        payload = EntryPayload(**{f: getattr(line, f) for f in _ENTRY_FIELDS})
        leaf = leaf_hash(entry_bytes(payload))
        if leaf.hex() != line.leaf:
            self.fail(line.id, f"entry {line.id} (line {number}) does not match its leaf hash")
        if line.move_id != header.id:
            self.fail(line.id, f"entry {line.id} (line {number}) belongs to move {line.move_id}")
        if line.id != self.next_id:
            self.fail(
                line.id,
                f"entry {line.id} (line {number}) is out of order: expected entry {self.next_id}",
            )
        if line.step_id is not None and line.step_id not in {s.id for s in self.steps}:
            self.fail(line.id, f"entry {line.id} (line {number}) names an undeclared step")
        self.next_id = line.id + 1
        self.builder.extend([leaf])

    def finish(self, public_key: Ed25519PublicKey | None) -> None:
        header, seal = self.header, self.seal
        if seal is None:
            raise ExportFormatError(
                f"the file has no seal line: it was truncated within move {header.id}; "
                "export again"
            )
        full = MoveHeader(**{n: getattr(header, n) for n in _HEADER_FIELDS}, steps=self.steps)
        if self.builder.count != header.entry_count:
            self.fail(
                self.next_id,
                f"file holds {self.builder.count} entries, the move was "
                f"sealed with {header.entry_count}",
            )
        if self.builder.root() != header.entries_root:
            self.fail(None, "entries do not match the sealed Merkle root")
        self.digest = move_digest(full)
        if self.digest != seal.digest:
            self.fail(None, "header or steps do not match the sealed digest")
        if seal.prev_digest != header.prev_digest or seal.entries_root != header.entries_root:
            self.fail(None, "the seal line does not match the header")
        if public_key is not None and (
            problem := signature_problem(full, seal.digest, seal.signature, public_key)
        ):
            self.fail(None, problem)


def _add(chain: ChainCheck, check: _FileCheck, public_key: Ed25519PublicKey | None) -> None:
    check.finish(public_key)
    chain.add(
        check.header,
        digest=check.digest,  # type: ignore[arg-type]
        sealed=check.seal.digest,  # type: ignore[union-attr]
        entries=check.builder.count,
        failure=check.failure,
    )


def _lines(path: Path) -> Iterator[tuple[int, ExportLine]]:
    decoder = msgspec.json.Decoder(ExportLine, float_hook=Decimal)
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    yield number, decoder.decode(raw)
                except msgspec.DecodeError as exc:
                    raise ExportFormatError(
                        f"line {number} of {path} is not an export line: {exc}"
                    ) from exc
    except OSError as exc:
        raise ExportFormatError(f"cannot read {path}: {exc.strerror}; check the path") from exc


def _read_moves(path: Path, chain: ChainCheck, public_key: Ed25519PublicKey | None) -> None:
    """Check the file's moves one after the other, feeding each finished move to ``chain``."""
    check: _FileCheck | None = None
    for number, line in _lines(path):
        if number == 1 and isinstance(line, RangeLine):
            chain.declared = line
        elif isinstance(line, HeaderLine):
            if check is not None and check.seal is None:
                raise ExportFormatError(
                    f"line {number} of {path} starts move {line.id} before the seal line of "
                    f"move {check.header.id}: the file was cut or spliced; export again"
                )
            if check is not None:
                _add(chain, check, public_key)
            check = _FileCheck(line)
        elif check is None:
            raise ExportFormatError(f"{path} does not start with a header line: not an export")
        elif check.seal is not None:
            raise ExportFormatError(
                f"line {number} of {path} follows the seal line of move {check.header.id}, "
                "where only a header line may start the next move"
            )
        elif isinstance(line, StepLine):
            check.steps.append(StepRecord(**{f: getattr(line, f) for f in _STEP_FIELDS}))
        elif isinstance(line, EntryLine):
            check.entry(line, number)
        elif isinstance(line, SealLine):
            check.seal = line
        else:
            raise ExportFormatError(f"line {number} of {path} is a range line not at the top")
    if check is None:
        raise ExportFormatError(f"{path} is empty: not an export")
    _add(chain, check, public_key)


def verify_file(
    path: str | Path,
    expected_digest: str | None = None,
    public_key: Ed25519PublicKey | None = None,
    prev_digest: str | None = None,
) -> VerifyReport:
    """Verify an export of one move or of a range of moves offline.

    Every leaf, Merkle root and digest of each move; the chain link between consecutive
    moves; with a ``range`` line, that no move of the range is missing, added or out of place.

    Args:
        path: the export file.
        expected_digest: the digest of the file's last move, as kept outside the database.
        public_key: check every move's signature with this key.
        prev_digest: the digest of the move before the file's first move, to check its link.

    Raises:
        ExportFormatError: the file cannot be read, is not an export or is cut inside a move.
    """
    expected_digest = expected_digest and expected_digest.strip().lower()
    chain = ChainCheck(prev_digest and prev_digest.strip().lower())
    _read_moves(Path(path), chain, public_key)
    chain.close(expected_digest)
    checked, not_checked = _file_scope(chain, expected_digest, public_key)
    return VerifyReport(
        ok=not chain.failures,
        moves_checked=len(chain.moves),
        entries_checked=chain.entries,
        failures=chain.failures,
        last_digest=chain.last_seal,
        checked=checked,
        not_checked=not_checked,
    )


def _file_scope(
    chain: ChainCheck, expected_digest: str | None, public_key: Ed25519PublicKey | None
) -> tuple[list[str], list[str]]:
    """What the verification of a file covered, and what it leaves open, in words."""
    first, last, count = chain.moves[0], chain.moves[-1].id, len(chain.moves)
    several = count > 1 or chain.declared is not None
    if several:
        checked = [
            f"every entry, Merkle root and digest of the {count} moves, and the chain links "
            f"between them ({first.id}..{last}), within the file"
        ]
        unproven = (
            "that the file holds the moves that were sealed (pass --digest with the last "
            "move's digest, or --public-key): a rewritten and re-chained export is consistent "
            "in itself"
        )
    else:
        checked = ["every entry, the Merkle root and the digest, within the file"]
        unproven = (
            "that the file is the move that was sealed (pass --digest or --public-key): a "
            "rewritten and re-sealed export is consistent in itself"
        )
    not_checked = []
    if chain.declared is not None:
        checked.append("that the file holds every move of its range line, in order")
    if chain.prev_digest is not None:
        checked.append(f"move {first.id}'s link to the digest you gave for the move before it")
    elif first.prev_digest is not None:
        not_checked.append(
            f"move {first.id}'s link to the move before it (pass --prev-digest with its digest)"
        )
    if expected_digest is not None:
        checked.append(
            f"the digest kept outside the database (of move {last}, which covers the moves "
            "before it through the chain)"
            if several
            else "the digest kept outside the database"
        )
    if public_key is not None:
        every = "every move's signature" if several else "the signature"
        checked.append(f"{every}, with key {fingerprint(public_key)}")
    if expected_digest is None and public_key is None:
        not_checked.append(unproven)
    if several and expected_digest is None:
        not_checked.append(
            "that the file ends where the export ended (pass --digest with the last move's "
            "digest): a file cut after a seal line, its range line edited to match, verifies"
        )
    return checked, not_checked
