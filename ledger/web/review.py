"""What a reviewer reads about one move: who, when, why, steps, per-table counts, sample diffs,
verification status and revert lineage.

One read of the ledger shared by the admin's move page and ``show_move``'s dossier
(``ledger.web.dossier``), so the two never disagree. Everything is read from the sealed tables;
nothing here writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec
from django.db import connections

from ledger.digest import decode
from ledger.queries import move_detail, signature_of
from ledger.signing import fingerprint, verify_signature
from ledger.structs import MoveDetail, VerifyReport
from ledger.verify import verify

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

OPS = {"I": "insert", "U": "update", "D": "delete"}
# Change groups shown as samples per table and operation, and keys named per sample: enough to
# see what a step did, small enough to read (every entry is one link away).
SAMPLES_PER_KIND = 2
KEYS_PER_SAMPLE = 5


class TableCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Rows a move inserted, updated and deleted in one table."""

    table: str
    label: str
    inserts: int
    updates: int
    deletes: int

    @property
    def total(self) -> int:
        return self.inserts + self.updates + self.deletes


class ColumnDiff(msgspec.Struct, frozen=True, kw_only=True):
    """One column of a row change, before and after, as text (``None``: no value on that side:
    the row did not exist)."""

    column: str
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


class SampleChange(msgspec.Struct, frozen=True, kw_only=True):
    """One change group: rows of one table that one statement changed the same way."""

    entry_id: int
    table: str
    op: Literal["I", "U", "D"]
    step: str | None
    rows: int
    pks: list[str]
    columns: list[ColumnDiff]

    @property
    def action(self) -> str:
        return OPS[self.op]


class SignatureStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Whether the move is signed, by which key, and whether the signature was checked.

    Attributes:
        valid: True or False once checked with ``checked_with``; None when no key was given.
    """

    signer: str | None
    signature: str | None
    checked_with: str | None = None
    valid: bool | None = None

    @property
    def signed(self) -> bool:
        return self.signer is not None


class MoveReview(msgspec.Struct, frozen=True, kw_only=True):
    """A move as a reviewer reads it.

    Attributes:
        previous_id: the move sealed just before (the chain link's other end), if any.
        chain_ok: ``prev_digest`` is the stored digest of ``previous_id`` (a cheap check; a
            full one is ``verified``).
        verified: the recomputation of every entry, root, digest and link, when asked for.
    """

    detail: MoveDetail
    tables: list[TableCounts]
    samples: list[SampleChange]
    signature: SignatureStatus
    previous_id: int | None
    chain_ok: bool
    verified: VerifyReport | None = None

    @property
    def id(self) -> int:
        return self.detail.header.id


def move_review(
    move_id: int,
    *,
    public_key: Ed25519PublicKey | None = None,
    recompute: bool = False,
    using: str = "default",
) -> MoveReview:
    """Read one sealed move for review.

    Args:
        move_id: the move.
        public_key: check the move's signature with this key.
        recompute: also verify every entry, the Merkle root, the digest and the chain link
            (``ledger.verify``); reads the whole move.
        using: the database alias.

    Raises:
        MoveNotFound: no move has this id.
    """
    detail = move_detail(move_id, using)
    previous_id, previous_digest = _previous(move_id, using)
    return MoveReview(
        detail=detail,
        tables=table_counts(detail, using),
        samples=sample_changes(move_id, using),
        signature=signature_status(detail, public_key, using),
        previous_id=previous_id,
        chain_ok=detail.header.prev_digest == previous_digest,
        verified=verify(move_id, using, public_key=public_key) if recompute else None,
    )


def _previous(move_id: int, using: str) -> tuple[int | None, str | None]:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT id, digest FROM ledger_move WHERE id < %s ORDER BY id DESC LIMIT 1", [move_id]
        )
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (None, None)


def _label(detail: MoveDetail, table: str) -> str:
    spec = detail.header.tables.get(table)
    return spec.get("label", "") if isinstance(spec, dict) else ""


def table_counts(detail: MoveDetail, using: str = "default") -> list[TableCounts]:
    """Rows inserted, updated and deleted per table, in table name order."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT table_name, "
            "coalesce(sum(row_count) FILTER (WHERE op = 'I'), 0), "
            "coalesce(sum(row_count) FILTER (WHERE op = 'U'), 0), "
            "coalesce(sum(row_count) FILTER (WHERE op = 'D'), 0) "
            "FROM ledger_change WHERE move_id = %s GROUP BY table_name ORDER BY table_name",
            [detail.header.id],
        )
        rows = cursor.fetchall()
    return [
        TableCounts(table=table, label=_label(detail, table), inserts=i, updates=u, deletes=d)
        for table, i, u, d in rows
    ]


# The first groups of each table and operation, found through the (move_id, id) index one
# kind at a time, so a move of a million groups is not read to pick a few.
_SAMPLES = """
SELECT c.id, c.table_name, c.op, s.label, c.row_count, c.pks[1:%(keys)s]::text[],
       c.before::text, c.after::text
FROM (SELECT DISTINCT table_name, op FROM ledger_change WHERE move_id = %(move)s) k
CROSS JOIN LATERAL (
    SELECT * FROM ledger_change c
    WHERE c.move_id = %(move)s AND c.table_name = k.table_name AND c.op = k.op
    ORDER BY c.id LIMIT %(per_kind)s
) c
LEFT JOIN ledger_step s ON s.id = c.step_id
ORDER BY c.table_name, c.id
"""


def sample_changes(
    move_id: int, using: str = "default", per_kind: int = SAMPLES_PER_KIND
) -> list[SampleChange]:
    """A few change groups of each table and operation, as column-by-column diffs."""
    with connections[using].cursor() as cursor:
        cursor.execute(_SAMPLES, {"move": move_id, "keys": KEYS_PER_SAMPLE, "per_kind": per_kind})
        rows = cursor.fetchall()
    return [
        SampleChange(
            entry_id=r[0],
            table=r[1],
            op=r[2],
            step=r[3],
            rows=r[4],
            pks=list(r[5]),
            columns=column_diff(
                None if r[6] is None else decode(r[6]), None if r[7] is None else decode(r[7])
            ),
        )
        for r in rows
    ]


_json = msgspec.json.Encoder(decimal_format="number")


def show_value(value: object) -> str:
    """A column value as a reviewer reads it: text as is, NULL as ``NULL``, numbers with the
    digits stored, others as JSON."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return value
    return _json.encode(value).decode()


def column_diff(
    before: dict[str, object] | None, after: dict[str, object] | None
) -> list[ColumnDiff]:
    """Column by column, in column name order: an insert has no before, a delete no after, an
    update holds the changed columns only (the ledger keeps no others)."""
    columns = sorted({*(before or {}), *(after or {})})
    return [
        ColumnDiff(
            column=name,
            before=None if before is None else show_value(before.get(name)),
            after=None if after is None else show_value(after.get(name)),
        )
        for name in columns
    ]


def signature_status(
    detail: MoveDetail, public_key: Ed25519PublicKey | None = None, using: str = "default"
) -> SignatureStatus:
    """The move's signer and signature, checked with ``public_key`` when one is given."""
    signer = detail.header.signer
    signature = signature_of(detail.header.id, using)
    if public_key is None:
        return SignatureStatus(signer=signer, signature=signature)
    expected = fingerprint(public_key)
    valid = signer == expected and verify_signature(public_key, detail.digest, signature)
    return SignatureStatus(signer=signer, signature=signature, checked_with=expected, valid=valid)
