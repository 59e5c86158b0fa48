"""Export a sealed move as JSON lines, and verify such a file offline (no database).

Line 1 is a ``header``, then one ``step`` line per step, one ``entry`` line per entry (with
its leaf hash) and a closing ``seal`` line with the move's digest and chain link. The JSON
Schema of a line is ``export_schema()``, published as ``docs/ledger-export.schema.json``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import msgspec

from ledger.digest import (
    MerkleBuilder,
    encode,
    entry_bytes,
    group_leaves,
    leaf_hash,
    move_digest,
)
from ledger.errors import ExportFormatError
from ledger.signing import fingerprint, verify_signature
from ledger.structs import (
    EntryLine,
    EntryPayload,
    ExportLine,
    HeaderFields,
    HeaderLine,
    MoveHeader,
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
        leaves = group_leaves(
            first_id=group.id,
            move_id=move_id,
            step_id=group.step_id,
            table=group.table,
            op=group.op,
            pks=group.pks,
            before=group.before,
            after=group.after,
        )
        # Written in slices: a group can hold millions of entries.
        for start in range(0, len(group.pks), _SLICE):
            lines = [
                encode(
                    EntryLine(
                        id=group.id + offset,
                        move_id=move_id,
                        step_id=group.step_id,
                        table=group.table,
                        op=group.op,
                        pk=pk,
                        before=group.before,
                        after=group.after,
                        leaf=leaf.hex(),
                    )
                )
                for offset, pk, leaf in zip(
                    range(start, start + _SLICE),
                    group.pks[start : start + _SLICE],
                    leaves[start : start + _SLICE],
                    strict=False,
                )
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


class _FileCheck:
    """State of an offline verification, line by line."""

    def __init__(self) -> None:
        self.header: HeaderLine | None = None
        self.steps: list[StepRecord] = []
        self.seal: SealLine | None = None
        self.builder = MerkleBuilder()
        self.failure: VerifyFailure | None = None
        self.next_id: int | None = None

    def fail(self, entry_id: int | None, reason: str) -> None:
        if self.failure is None:
            move = self.header.id if self.header else None
            self.failure = VerifyFailure(move_id=move, entry_id=entry_id, reason=reason)

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

    def finish(
        self, expected_digest: str | None, public_key: Ed25519PublicKey | None = None
    ) -> None:
        header, seal = self.header, self.seal
        if seal is None:
            raise ExportFormatError("the file has no seal line: it was truncated; export again")
        full = MoveHeader(**{n: getattr(header, n) for n in _HEADER_FIELDS}, steps=self.steps)
        if self.builder.count != header.entry_count:
            self.fail(
                self.next_id,
                f"file holds {self.builder.count} entries, the move was "
                f"sealed with {header.entry_count}",
            )
        if self.builder.root() != header.entries_root:
            self.fail(None, "entries do not match the sealed Merkle root")
        digest = move_digest(full)
        if digest != seal.digest:
            self.fail(None, "header or steps do not match the sealed digest")
        if seal.prev_digest != header.prev_digest or seal.entries_root != header.entries_root:
            self.fail(None, "the seal line does not match the header")
        if expected_digest is not None and expected_digest != seal.digest:
            self.fail(
                None,
                f"digest {seal.digest} differs from the digest kept outside the "
                f"database ({expected_digest})",
            )
        if public_key is not None:
            if full.signer != fingerprint(public_key):
                self.fail(None, f"the move names signer {full.signer}, not the given key")
            elif not verify_signature(public_key, seal.digest, seal.signature):
                self.fail(None, "the signature does not verify with the given key: forged")


def _read_lines(path: Path):
    try:
        with path.open("rb") as handle:
            yield from handle
    except OSError as exc:
        raise ExportFormatError(f"cannot read {path}: {exc.strerror}; check the path") from exc


def verify_file(
    path: str | Path,
    expected_digest: str | None = None,
    public_key: Ed25519PublicKey | None = None,
) -> VerifyReport:
    """Verify an export offline: every leaf, the Merkle root and the digest.

    Args:
        path: the export file.
        expected_digest: the move's digest as kept outside the database, if any.
        public_key: check the move's signature with this key.

    Raises:
        ExportFormatError: the file cannot be read or is not an export.
    """
    decoder = msgspec.json.Decoder(ExportLine, float_hook=Decimal)
    check = _FileCheck()
    for number, raw in enumerate(_read_lines(Path(path)), start=1):
        try:
            line = decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise ExportFormatError(
                f"line {number} of {path} is not an export line: {exc}"
            ) from exc
        if number == 1 and not isinstance(line, HeaderLine):
            raise ExportFormatError(f"{path} does not start with a header line: not an export")
        if check.seal is not None:
            raise ExportFormatError(f"line {number} of {path} follows the seal line")
        if isinstance(line, HeaderLine):
            if number != 1:
                raise ExportFormatError(f"line {number} of {path} is a second header")
            check.header = line
            check.next_id = line.first_entry_id
        elif isinstance(line, StepLine):
            check.steps.append(StepRecord(**{f: getattr(line, f) for f in _STEP_FIELDS}))
        elif isinstance(line, EntryLine):
            check.entry(line, number)
        else:
            check.seal = line
    if check.header is None:
        raise ExportFormatError(f"{path} is empty: not an export")
    check.finish(expected_digest, public_key)
    failures = [check.failure] if check.failure else []
    checked = ["every entry, the Merkle root and the digest, within the file"]
    not_checked = []
    if expected_digest is not None:
        checked.append("the digest kept outside the database")
    if public_key is not None:
        checked.append(f"the signature, with key {fingerprint(public_key)}")
    if expected_digest is None and public_key is None:
        not_checked.append(
            "that the file is the move that was sealed (pass --digest or --public-key): a "
            "rewritten and re-sealed export is consistent in itself"
        )
    return VerifyReport(
        ok=not failures,
        moves_checked=1,
        entries_checked=check.builder.count,
        failures=failures,
        last_digest=check.seal.digest,
        checked=checked,
        not_checked=not_checked,
    )
