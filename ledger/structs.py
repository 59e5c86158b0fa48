"""msgspec payloads: entries, move headers, export lines and verification reports.

Every payload that is hashed or written to a file carries a version field ``v``. Digests hash
``msgspec.json.encode(payload, order="sorted")``; see ``ledger.digest``.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

FORMAT_VERSION = 2
# The version of a move header that carries ``subjects``. A header without subjects (every move
# sealed before they existed, and any move recorded without them) keeps version 2 and encodes
# exactly as before (``subjects`` is UNSET, so omitted), so its digest is unchanged.
SUBJECTS_VERSION = 3

# A JSON object: row values (before/after), arguments, table snapshots. msgspec's JSON
# Schema generator needs ``Any`` (not ``object``) for an unconstrained value.
Json = dict[str, Any]


class EntryPayload(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, gc=False
):
    """The canonical form of one entry: the bytes its Merkle leaf hashes. Not tracked by the
    garbage collector: it holds plain values only, and verification builds one per
    single-row group."""

    v: int = FORMAT_VERSION
    id: int
    move_id: int
    step_id: int | None
    table: str
    op: Literal["I", "U", "D"]
    pk: str
    before: Json | None
    after: Json | None


class StepRecord(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A declared step and its row counts, as sealed in the move header."""

    id: int
    seq: int
    label: str
    action: str
    expected_rows: int | None
    captured_rows: int


class HeaderFields(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The fields of a move header, without its steps."""

    v: int = FORMAT_VERSION
    id: int
    kind: Literal["move", "revert"]
    reverts_id: int | None
    command: str
    arguments: Json
    reason: str
    operator: str
    started_at: str
    committed_at: str
    schema_fingerprint: str
    tables: Json
    context_id: str
    entry_count: int
    first_entry_id: int | None
    entries_root: str
    prev_digest: str | None
    signer: str | None
    # What the move concerns, in the domain's words (e.g. the ids it is about): a small JSON
    # object the ledger stores, indexes and filters on, and never interprets. Omitted from the
    # encoding (and the digest) when UNSET; present, the header's ``v`` is SUBJECTS_VERSION.
    subjects: Json | msgspec.UnsetType = msgspec.UNSET


class MoveHeader(HeaderFields, frozen=True, kw_only=True):
    """Everything the chain link of a move covers, its steps and Merkle root included."""

    steps: list[StepRecord]


class HeaderLine(HeaderFields, frozen=True, kw_only=True, tag="header", tag_field="type"):
    """First line of an export: the move header without its steps (they follow as lines)."""


class StepLine(StepRecord, frozen=True, kw_only=True, tag="step", tag_field="type"):
    """One step of the exported move."""


class EntryLine(EntryPayload, frozen=True, kw_only=True, tag="entry", tag_field="type"):
    """One entry of the exported move and its leaf hash (hex), which locates an edited line."""

    leaf: str


class SealLine(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag="seal",
    tag_field="type",
    forbid_unknown_fields=True,
):
    """Last line of an export: the move's digest, its chain link and what it covers."""

    move_id: int
    entry_count: int
    entries_root: str
    prev_digest: str | None
    digest: str
    signature: str | None = None


class RangeLine(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag="range",
    tag_field="type",
    forbid_unknown_fields=True,
):
    """First line of a multi-move export: the moves that follow, in order, so that a file cut
    after one of its seal lines, or missing a move, is seen."""

    v: int = FORMAT_VERSION
    first_move: int
    last_move: int


ExportLine = RangeLine | HeaderLine | StepLine | EntryLine | SealLine

# The version of the inclusion proof file format (its entries and header keep their own ``v``).
PROOF_VERSION = 1


class EntryProof(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One entry, its leaf index in its move and its RFC 6962 audit path.

    Attributes:
        entry: the entry exactly as hashed into its Merkle leaf.
        leaf_index: its position among the move's entries (``entry.id - first_entry_id``).
        audit_path: hex sibling hashes, from the leaf's sibling up to the root's child
            (RFC 6962 section 2.1.1, ``PATH(m, D[n])``).
    """

    entry: EntryPayload
    leaf_index: int
    audit_path: list[str]


class InclusionProof(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag="inclusion-proof",
    tag_field="type",
    forbid_unknown_fields=True,
):
    """Proof that entries are in a sealed move: checked offline with the header, the digest
    and the signature it carries (``ledger.proof.verify_proof``)."""

    v: int = PROOF_VERSION
    header: MoveHeader
    digest: str
    signature: str | None
    entries: list[EntryProof]


class VerifyFailure(msgspec.Struct, frozen=True, kw_only=True):
    """One record that does not match its digest."""

    move_id: int | None
    entry_id: int | None
    reason: str


class VerifyReport(msgspec.Struct, kw_only=True):
    """What verification checked and the first failure of each move, in ledger order.

    Attributes:
        last_digest: the digest of the last move checked (the one move, with ``--move``).
        checked: what was verified, in words.
        not_checked: what was not, and what that leaves open.
    """

    ok: bool
    moves_checked: int
    entries_checked: int
    failures: list[VerifyFailure]
    last_digest: str | None
    checked: list[str] = []
    not_checked: list[str] = []


class MoveSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One line of ``list_moves``: who, when, why, what it concerns (its subjects), lineage."""

    id: int
    kind: str
    committed_at: str
    operator: str
    reason: str
    subjects: Json | None = None
    reverts_id: int | None
    reverted_by: int | None


class OutsideWrites(msgspec.Struct, frozen=True, kw_only=True):
    """Row changes made outside any declared step, per table and operation."""

    table: str
    op: str
    rows: int


class MoveDetail(msgspec.Struct, frozen=True, kw_only=True):
    """Everything ``show_move`` prints: who, when, why, steps, stray writes, digest, lineage."""

    header: MoveHeader
    digest: str
    reverted_by: int | None
    outside_steps: list[OutsideWrites]
