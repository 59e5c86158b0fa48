"""What a reviewer proves about sealed moves without the database.

- That an entry is in a sealed move: an RFC 6962 inclusion proof (``build_proof``,
  ``verify_proof``). The proof carries the entry, its leaf index, its audit path, the move's
  full header (steps included), the digest and the signature: the verifier recomputes the
  root from the leaf and the path, the digest from the header and that root, and checks the
  signature with the public key it holds.
- That a move was sealed by the holder of the signing key (``signature_problem``).
- That moves follow one another (``ChainCheck``): each move's ``prev_digest`` is the digest of
  the move before it, as in a range export.

A proof hashes every leaf of its move once (O(n)) and keeps none of them: each audit path is
folded while the leaves stream past (``AuditPath``). Memory holds a window of a change
group's keys at most, however large the group (``ledger.groupkeys``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from ledger.digest import (
    AuditPath,
    encode,
    entry_bytes,
    leaf_hash,
    move_digest,
    root_from_path,
)
from ledger.errors import ExportFormatError, LedgerError, TamperDetected
from ledger.signing import fingerprint, verify_signature
from ledger.structs import (
    PROOF_VERSION,
    EntryPayload,
    EntryProof,
    HeaderFields,
    InclusionProof,
    MoveHeader,
    RangeLine,
    VerifyFailure,
    VerifyReport,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def signature_problem(
    header: HeaderFields, digest: str, signature: str | None, public_key: Ed25519PublicKey
) -> str | None:
    """Why a move's signature does not hold with ``public_key``, or None when it does."""
    expected = fingerprint(public_key)
    if header.signer is None:
        return f"move {header.id} is not signed (sealed with no signing key configured)"
    if header.signer != expected:
        return f"move {header.id} names signer {header.signer}, not the given key {expected}"
    if not verify_signature(public_key, digest, signature):
        return (
            f"move {header.id}'s signature does not verify with the given key: its digest was "
            "rewritten, or the move was forged"
        )
    return None


class ChainCheck:
    """Moves in the order a file holds them: the link of each to the one before it (of the
    first, to ``prev_digest`` when the reviewer gives it), and that they are the moves of the
    range line, ``declared``, if the file has one. ``failures``: the first of each move.
    """

    def __init__(self, prev_digest: str | None = None) -> None:
        self.declared: RangeLine | None = None
        self.prev_digest = prev_digest
        self.failures: list[VerifyFailure] = []
        self.moves: list[HeaderFields] = []
        self.entries = 0
        self.last_digest: str | None = None  # recomputed from the last move's header
        self.last_seal: str | None = None

    def add(
        self,
        header: HeaderFields,
        *,
        digest: str,
        sealed: str,
        entries: int,
        failure: VerifyFailure | None,
    ) -> None:
        """The next move: its recomputed and sealed digests and its own first failure."""
        if self.moves and header.prev_digest != self.last_digest:
            failure = VerifyFailure(
                move_id=header.id,
                entry_id=None,
                reason="chain link broken: prev_digest does not match the digest of move "
                f"{self.moves[-1].id}, which precedes it in the file (a move was removed, "
                "inserted or reordered)",
            )
        elif not self.moves and self.prev_digest not in (None, header.prev_digest):
            failure = VerifyFailure(
                move_id=header.id,
                entry_id=None,
                reason=f"prev_digest {header.prev_digest} is not the digest you gave for the "
                f"move before it ({self.prev_digest}): the chain was rewritten, or that digest "
                "is of another move",
            )
        if failure:
            self.failures.append(failure)
        self.moves.append(header)
        self.entries += entries
        self.last_digest, self.last_seal = digest, sealed

    def close(self, expected_digest: str | None) -> None:
        """The checks that need every move: the declared range, where the file ends, and the
        last digest against the one kept outside the database."""
        if self.declared is not None:
            self._range(self.declared.first_move, self.declared.last_move)
        last = self.moves[-1].id
        if expected_digest not in (None, self.last_seal):
            self._fail(
                last,
                f"digest {self.last_seal} differs from the digest kept outside the database "
                f"({expected_digest})",
            )

    def _range(self, first: int, last: int) -> None:
        held, wanted = [m.id for m in self.moves], list(range(first, last + 1))
        if held == wanted:
            return
        if held == wanted[: len(held)]:
            missing = wanted[len(held)]
            self._fail(
                missing,
                f"the file declares moves {first}..{last} but ends after move {held[-1]}: "
                f"moves {missing}..{last} are missing (the file was truncated); export again",
            )
            return
        at = next(i for i, move in enumerate(held) if i >= len(wanted) or move != wanted[i])
        where = f"move {wanted[at]}" if at < len(wanted) else "no move"
        self._fail(
            held[at],
            f"move {held[at]} stands where the file's range line ({first}..{last}) has "
            f"{where}: a move was removed, added or reordered",
        )

    def _fail(self, move_id: int, reason: str) -> None:
        if move_id not in {f.move_id for f in self.failures}:
            self.failures.append(VerifyFailure(move_id=move_id, entry_id=None, reason=reason))


def _tampered(move_id: int, what: str) -> TamperDetected:
    return TamperDetected(
        f"move {move_id} does not match its seal ({what}): no proof is made from a ledger that "
        f"fails verification; run verify_ledger --move {move_id}",
        move_id=move_id,
    )


def _choose(
    found: list[EntryPayload], entry_id: int | None, move_id: int, table: str, pk: str
) -> list[EntryPayload]:
    if not found:
        raise LedgerError(
            f"move {move_id} holds no change of {table} row {pk}: run row_history to see the "
            "moves that changed it"
        )
    if entry_id is None:
        return found
    chosen = [entry for entry in found if entry.id == entry_id]
    if not chosen:
        ids = ", ".join(str(entry.id) for entry in found)
        raise LedgerError(
            f"entry {entry_id} is not a change of {table} row {pk} in move {move_id}: pass "
            f"--entry with one of {ids}, or leave it out to prove them all"
        )
    return chosen


def _stream_leaves(header: MoveHeader, paths: list[AuditPath], using: str) -> None:
    """Feed every leaf of the move, in order, to each audit path."""
    from ledger.queries import iter_leaves  # verifying a proof needs no database

    position = 0
    for start, leaves in iter_leaves(header, using):
        if start != position:
            raise _tampered(header.id, f"entries jump from {position} to {start}")
        for path in paths:
            path.feed(start, leaves)
        position += len(leaves)
    if position != header.entry_count:
        raise _tampered(header.id, f"{position} entries, sealed with {header.entry_count}")


def build_proof(
    move_id: int, table: str, pk: str, *, entry_id: int | None = None, using: str = "default"
) -> InclusionProof:
    """The inclusion proof of a row's entries in a sealed move.

    A row changed several times in one move has several entries: all of them are proven,
    or only ``entry_id``. The move's leaves are hashed once, whatever the number of entries.

    Args:
        move_id: the sealed move.
        table: the table name, as the ledger records it.
        pk: the row's primary key, as text.
        entry_id: prove only this entry of the row.
        using: the database alias.

    Raises:
        MoveNotFound: no such move.
        LedgerError: the move holds no change of the row, or ``entry_id`` is not one of them.
        TamperDetected: the move does not match its seal in the database.
    """
    from ledger.queries import read_header, row_entries, signature_of

    header, digest = read_header(move_id, using)
    found = _choose(row_entries(move_id, table, pk, using), entry_id, move_id, table, pk)
    first = header.first_entry_id or 0
    try:
        paths = [AuditPath(entry.id - first, header.entry_count) for entry in found]
    except ValueError as exc:
        raise _tampered(move_id, str(exc)) from exc
    _stream_leaves(header, paths, using)
    proofs = []
    for entry, path in zip(found, paths, strict=True):
        nodes = path.path()
        leaf = leaf_hash(entry_bytes(entry))
        root = root_from_path(leaf, path.index, path.size, nodes)
        if path.leaf != leaf or root is None or root.hex() != header.entries_root:
            raise _tampered(move_id, f"entry {entry.id} does not lead to its Merkle root")
        proofs.append(
            EntryProof(entry=entry, leaf_index=path.index, audit_path=[n.hex() for n in nodes])
        )
    if move_digest(header) != digest:
        raise _tampered(move_id, "its header does not match its digest")
    signature = signature_of(move_id, using)
    return InclusionProof(header=header, digest=digest, signature=signature, entries=proofs)


def _hashes(path: list[str]) -> list[bytes] | None:
    if not all(len(node) == 64 for node in path):
        return None
    try:
        return [bytes.fromhex(node) for node in path]
    except ValueError:
        return None


def _entry_failure(header: MoveHeader, item: EntryProof) -> VerifyFailure | None:
    entry, index = item.entry, item.leaf_index
    where = f"entry {entry.id} ({entry.op} {entry.table} row {entry.pk})"
    first = header.first_entry_id
    if entry.move_id != header.id:
        reason = f"{where} names move {entry.move_id}, not move {header.id}"
    elif first is None or entry.id != first + index:
        reason = (
            f"{where} is not leaf {index} of move {header.id}, whose entries start at entry "
            f"{first}: the index or the entry was altered"
        )
    elif (nodes := _hashes(item.audit_path)) is None:
        reason = f"{where}'s audit path holds something else than 32-byte hex hashes"
    else:
        root = root_from_path(leaf_hash(entry_bytes(entry)), index, header.entry_count, nodes)
        if root is not None and root.hex() == header.entries_root:
            return None
        reason = (
            f"{where} does not lead to move {header.id}'s entries_root through its audit "
            "path: the entry, its index or its path was altered"
        )
    return VerifyFailure(move_id=header.id, entry_id=entry.id, reason=reason)


def _move_failures(
    proof: InclusionProof, expected_digest: str | None, public_key: Ed25519PublicKey | None
) -> list[str]:
    header, reasons = proof.header, []
    if not proof.entries:
        reasons.append("the proof holds no entry: make it again with prove_entry")
    if move_digest(header) != proof.digest:
        reasons.append(
            "the header does not match the digest in the proof: a header or step field, or "
            "the entries_root, was edited"
        )
    if expected_digest is not None and expected_digest != proof.digest:
        reasons.append(
            f"move {header.id} has digest {proof.digest}, not the digest kept outside the "
            f"database ({expected_digest}): the proof is of a rewritten move"
        )
    if public_key is not None and (
        problem := signature_problem(header, proof.digest, proof.signature, public_key)
    ):
        reasons.append(problem)
    return reasons


def _proof_scope(
    proof: InclusionProof, expected_digest: str | None, public_key: Ed25519PublicKey | None
) -> tuple[list[str], list[str]]:
    """What the verification of a proof covered, and what it leaves open, in words."""
    header = proof.header
    checked = [
        f"entry {e.entry.id} ({e.entry.op} {e.entry.table} row {e.entry.pk}) is leaf "
        f"{e.leaf_index} of the {header.entry_count} under move {header.id}'s entries_root "
        f"(an audit path of {len(e.audit_path)} hashes)"
        for e in proof.entries
    ]
    checked.append(f"move {header.id}'s digest, from its header, steps and entries_root")
    not_checked = [
        f"move {header.id}'s place in the chain (its prev_digest): verify_ledger checks it in "
        "the database, verify_ledger --file in a range export",
        f"that the proof holds every change of the row in move {header.id}: a proof shows "
        "that what it holds is in the move, not what it leaves out",
    ]
    if expected_digest is not None:
        checked.append("the digest kept outside the database")
    if public_key is not None:
        checked.append(f"the signature, with key {fingerprint(public_key)}")
    if expected_digest is None and public_key is None:
        not_checked.insert(
            0,
            f"that move {header.id} is the move that was sealed (pass --public-key or "
            "--digest): a proof made from a rewritten database is consistent in itself",
        )
    return checked, not_checked


def verify_proof(
    proof: InclusionProof,
    expected_digest: str | None = None,
    public_key: Ed25519PublicKey | None = None,
) -> VerifyReport:
    """Check an inclusion proof offline: each entry's leaf leads through its audit path to
    the header's ``entries_root``, the header to the digest, and the digest to its signature.

    Args:
        proof: a proof from ``build_proof`` or ``read_proof``.
        expected_digest: the move's digest as kept outside the database.
        public_key: check the move's signature with this key.

    Returns:
        A report: every failure found, what was checked and what was not.
    """
    header = proof.header
    expected_digest = expected_digest and expected_digest.strip().lower()
    failures = [f for item in proof.entries if (f := _entry_failure(header, item))]
    for reason in _move_failures(proof, expected_digest, public_key):
        failures.append(VerifyFailure(move_id=header.id, entry_id=None, reason=reason))
    checked, not_checked = _proof_scope(proof, expected_digest, public_key)
    return VerifyReport(
        ok=not failures,
        moves_checked=1,
        entries_checked=len(proof.entries),
        failures=failures,
        last_digest=proof.digest,
        checked=checked,
        not_checked=not_checked,
    )


class _Version(msgspec.Struct, tag="inclusion-proof", tag_field="type"):
    v: int = PROOF_VERSION


_version_decoder = msgspec.json.Decoder(_Version)
_proof_decoder = msgspec.json.Decoder(InclusionProof, float_hook=Decimal)


def encode_proof(proof: InclusionProof) -> bytes:
    """A proof as the JSON file ``prove_entry`` writes (keys sorted, indented)."""
    return msgspec.json.format(encode(proof), indent=2) + b"\n"


def read_proof(path: str | Path) -> InclusionProof:
    """Read a proof file.

    Raises:
        ExportFormatError: the file cannot be read, is not a proof, or is of another version.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ExportFormatError(f"cannot read {path}: {exc.strerror}; check the path") from exc
    try:
        version = _version_decoder.decode(raw).v
        if version != PROOF_VERSION:
            raise ExportFormatError(
                f"{path} is a version {version} proof; this verifier reads version "
                f"{PROOF_VERSION}: use the ami-move-ledger release that made it"
            )
        return _proof_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise ExportFormatError(
            f"{path} is not an inclusion proof ({exc}): make one with prove_entry"
        ) from exc
