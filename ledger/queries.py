"""Read-side SQL over the ledger tables: headers, change groups, entries and row history.

Every function takes a Django connection alias and returns plain values or msgspec structs,
never ORM instances, so the revert engine and the commands share one way of reading.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar, cast

import msgspec
from django.db import connections, transaction

from ledger import config
from ledger.dbapi import batch_fetcher
from ledger.digest import canonical_time, decode, decode_row, encode, leaf_parts
from ledger.errors import LedgerError, MoveNotFound
from ledger.groupkeys import INLINE_KEYS, StoredKeys
from ledger.installed import require_current
from ledger.readahead import read_ahead
from ledger.structs import (
    SUBJECTS_VERSION,
    EntryPayload,
    MoveDetail,
    MoveHeader,
    MoveSummary,
    OutsideWrites,
    StepRecord,
)

_HEADER_COLUMNS = """
id, kind, reverts_id, command, arguments::text, reason, operator, started_at, committed_at,
schema_fingerprint, tables::text, context_id::text, entry_count, first_entry_id, entries_root,
prev_digest, signer, digest, subjects::text
"""


class _StoredGroup(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """What every decoding of a stored change group holds: entries ``id .. id + size - 1``.

    ``pks`` holds the keys themselves, or for a group of more than ``INLINE_KEYS`` a
    ``StoredKeys`` that reads them a window at a time (``ledger.groupkeys``). Not tracked by
    the garbage collector (``gc=False``): a group references nothing that references it, and
    verification decodes one per single-row entry (4% faster on 100k of them).
    """

    table: str
    id: int
    move_id: int
    step_id: int | None
    op: str
    pks: Sequence[str]
    hash: str
    size: int


class RawGroup(_StoredGroup, frozen=True, array_like=True, gc=False):
    """A stored change group with ``before`` and ``after`` as the server sent them, undecoded
    (``null`` or a JSON object, unless edited): what verification falls back to where a group
    does not decode as its table's ``ledger.tablegroups.TableGroup``."""

    before: msgspec.Raw
    after: msgspec.Raw

    def decoded(self) -> Group:
        """The group with ``before`` and ``after`` decoded, as ``iter_groups`` gives it.

        Raises:
            msgspec.ValidationError: one of them is neither an object nor null.
        """
        fields = msgspec.structs.asdict(self)  # _StoredGroup's, as they are
        fields.update(before=decode_row(self.before), after=decode_row(self.after))
        return Group(**fields)


class Group(_StoredGroup, frozen=True, array_like=True, gc=False):
    """A stored change group, decoded from the JSON array the server builds for it."""

    before: dict[str, object] | None
    after: dict[str, object] | None

    def shared(self, move_id: int) -> dict[str, Any]:
        """What every entry of the group shares, as ``group_leaves`` and ``GroupDigest`` take
        it (``move_id``: the move the header names, which the leaves must hash)."""
        return {
            "move_id": move_id,
            "step_id": self.step_id,
            "table": self.table,
            "op": self.op,
            "before": self.before,
            "after": self.after,
        }


def _header(row: tuple[Any, ...], steps: list[StepRecord]) -> tuple[MoveHeader, str]:
    # A move sealed with subjects has a version 3 header; one without encodes as before.
    extra = {} if row[18] is None else {"v": SUBJECTS_VERSION, "subjects": decode(row[18])}
    header = MoveHeader(
        **extra,
        id=row[0],
        kind=row[1],
        reverts_id=row[2],
        command=row[3],
        arguments=decode(row[4]),
        reason=row[5],
        operator=row[6],
        started_at=canonical_time(row[7]),
        committed_at=canonical_time(row[8]),
        schema_fingerprint=row[9],
        tables=decode(row[10]),
        context_id=row[11],
        entry_count=row[12],
        first_entry_id=row[13],
        entries_root=row[14],
        prev_digest=row[15],
        signer=row[16],
        steps=steps,
    )
    return header, row[17]


def read_steps(move_id: int, using: str = "default") -> list[StepRecord]:
    """The steps of a move, in order."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT id, seq, label, action, expected_rows, captured_rows FROM ledger_step "
            "WHERE move_id = %s ORDER BY seq, id",
            [move_id],
        )
        return [
            StepRecord(
                id=r[0], seq=r[1], label=r[2], action=r[3], expected_rows=r[4], captured_rows=r[5]
            )
            for r in cursor.fetchall()
        ]


def read_headers(
    move_id: int | None = None, using: str = "default"
) -> Iterator[tuple[MoveHeader, str]]:
    """Sealed move headers and their stored digests, in chain (id) order.

    Raises:
        LedgerError: the database's ledger migrations are not all applied.
    """
    require_current(using)
    where, params = ("WHERE id = %s", [move_id]) if move_id is not None else ("", [])
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT {_HEADER_COLUMNS} FROM ledger_move {where} ORDER BY id", params)
        rows = cursor.fetchall()
    for row in rows:
        yield _header(row, read_steps(row[0], using))


def signature_of(move_id: int, using: str = "default") -> str | None:
    """The stored signature of a move's digest (hex), or None when it is unsigned."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT signature FROM ledger_move WHERE id = %s", [move_id])
        row = cursor.fetchone()
    return row[0] if row else None


def read_header(move_id: int, using: str = "default") -> tuple[MoveHeader, str]:
    """One sealed move's header and digest.

    Raises:
        MoveNotFound: no move has this id.
    """
    for found in read_headers(move_id, using):
        return found
    raise MoveNotFound(move_id)


# One JSON array per group, in Group's field order, built by the server (json_build_array:
# cheaper for it than json_build_object or concatenating the parts, 7% faster verification of
# single-row groups), and decoded by msgspec straight into a Group. The table comes first: it
# is the tag that picks a TableGroup's struct (ledger.tablegroups). A large group's keys are
# left out (an empty array), to be read a window at a time. Which groups are large is read
# off row_count (a plain column: cheaper than the array's size, which each group's size
# comes from; a row_count edited to mislead only changes which groups are read in windows).
_GROUPS = """
SELECT json_build_array(table_name, id, move_id, step_id, op,
    CASE WHEN row_count <= %s THEN pks ELSE '{}'::text[] END, hash, cardinality(pks),
    before, after)::text
FROM ledger_change WHERE move_id = %s ORDER BY move_id, id
"""
_decode_group = msgspec.json.Decoder(Group, float_hook=Decimal).decode
decode_raw_group = msgspec.json.Decoder(RawGroup).decode


def groups_query(move_id: int) -> tuple[str, list[int]]:
    """The query ``iter_groups`` streams, and its parameters."""
    return _GROUPS, [INLINE_KEYS, move_id]


def decode_groups(rows: Sequence[tuple[str]]) -> list[Group]:
    """The groups of a fetched batch of ``groups_query`` rows (a large group's ``pks`` still
    empty: ``iter_groups`` gives it its ``StoredKeys``).

    Row by row: joining a batch's rows into one JSON array to decode in one call costs more
    (copying every row twice) than msgspec's call per row, 0.3 us of 3.4 us a single-row group.
    """
    return [_decode_group(row[0]) for row in rows]


def iter_groups(move_id: int, using: str = "default") -> Iterator[Group]:
    """A move's stored change groups in entry order, streamed through a server-side cursor.

    Each fetched row (one JSON array, built by the server) is decoded by msgspec into a
    ``Group``: several times faster than converting its columns one by one in Python. A
    group's ``pks`` are read in windows as they are asked for (``StoredKeys``) where it holds
    more than ``INLINE_KEYS``: read them in order, before the next group is asked for.
    """
    return stream_groups(move_id, using, decode_groups)


class _Stored(Protocol):
    """What ``stream_groups`` reads of a decoded group (a msgspec struct)."""

    @property
    def id(self) -> int: ...

    @property
    def size(self) -> int: ...


_G = TypeVar("_G", bound=_Stored)


def stream_groups(
    move_id: int, using: str, decode: Callable[[Sequence[tuple[str]]], list[_G]]
) -> Iterator[_G]:
    """A move's stored change groups in entry order, each fetched batch of ``groups_query``
    rows decoded by ``decode``, a large group's ``pks`` given as ``StoredKeys``."""
    size = config.fetch_size()
    # Inside a transaction the server-side cursor streams (a WITH HOLD cursor would build
    # every row first), and a thread fetches the next batch while this one is decoded and
    # hashed: the server builds rows while Python works.
    with transaction.atomic(using=using), connections[using].chunked_cursor() as cursor:
        cursor.execute(*groups_query(move_id))
        with contextlib.closing(read_ahead(batch_fetcher(cursor, size))) as batches:
            for rows in batches:
                for group in decode(rows):
                    if group.size > INLINE_KEYS:
                        group = msgspec.structs.replace(
                            cast(Any, group), pks=StoredKeys(group.id, group.size, using)
                        )
                    yield group


def entries(move_id: int, using: str = "default") -> Iterator[EntryPayload]:
    """Every entry of a sealed move, one per row change, in entry id order.

    Raises:
        MoveNotFound: no move has this id.
    """
    read_header(move_id, using)
    for group in iter_groups(move_id, using):
        for offset, pk in enumerate(group.pks):
            yield EntryPayload(
                id=group.id + offset,
                move_id=group.move_id,
                step_id=group.step_id,
                table=group.table,
                op=group.op,  # type: ignore[arg-type]
                pk=pk,
                before=group.before,
                after=group.after,
            )


def iter_leaves(header: MoveHeader, using: str = "default") -> Iterator[tuple[int, list[bytes]]]:
    """A move's leaf hashes in entry order, in parts: ``(leaf index of the first, leaves)``.

    The index is the entry id less the move's ``first_entry_id``, as the groups are stored: a
    verifier checks the parts follow each other. Parts are ``leaf_parts``, so a group of a
    million keys never has a million leaves in memory at once.
    """
    first = header.first_entry_id or 0
    for group in iter_groups(header.id, using):
        shared = group.shared(header.id)
        for first_id, leaves in leaf_parts(first_id=group.id, pks=group.pks, **shared):
            yield first_id - first, leaves


def row_entries(move_id: int, table: str, pk: str, using: str = "default") -> list[EntryPayload]:
    """The entries of one row in one move, in entry order (several if it changed several
    times), exactly as their Merkle leaves hash them."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.id + u.ord - 1, c.step_id, c.op, c.before::text, c.after::text "
            "FROM ledger_change c CROSS JOIN LATERAL unnest(c.pks) WITH ORDINALITY u(pk, ord) "
            "WHERE c.move_id = %s AND c.table_name = %s AND c.pks @> ARRAY[%s]::text[] "
            "AND u.pk = %s ORDER BY 1",
            [move_id, table, pk, pk],
        )
        rows = cursor.fetchall()
    return [
        EntryPayload(
            id=r[0],
            move_id=move_id,
            step_id=r[1],
            table=table,
            op=r[2],
            pk=pk,
            before=None if r[3] is None else decode(r[3]),
            after=None if r[4] is None else decode(r[4]),
        )
        for r in rows
    ]


def sealed_move_ids(first: int, last: int, using: str = "default") -> list[int]:
    """The ids of the sealed moves between ``first`` and ``last`` (both included), in order."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT id FROM ledger_move WHERE id BETWEEN %s AND %s ORDER BY id", [first, last]
        )
        return [row[0] for row in cursor.fetchall()]


class HistoryRow(msgspec.Struct, frozen=True, kw_only=True):
    """One entry that touched a row, with the move that made it."""

    entry_id: int
    move_id: int
    kind: str
    operator: str
    committed_at: datetime
    step: str | None
    op: str
    before: dict[str, object] | None
    after: dict[str, object] | None


def row_history(table: str, pk: str, using: str = "default") -> list[HistoryRow]:
    """Every entry that touched ``table`` row ``pk``, across moves, oldest first.

    One lookup in the row index (``ledger.rowindex``), brought up to date first.
    """
    from ledger.rowindex import index_missing

    index_missing(using)
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT i.entry_id, m.id, m.kind, m.operator, m.committed_at, s.label, c.op, "
            "c.before::text, c.after::text "
            "FROM ledger_row_index i JOIN ledger_change c ON c.id = i.change_id "
            "JOIN ledger_move m ON m.id = c.move_id "
            "LEFT JOIN ledger_step s ON s.id = c.step_id "
            "WHERE i.table_name = %s AND i.row_pk = %s ORDER BY i.entry_id",
            [table, pk],
        )
        rows = cursor.fetchall()
    return [
        HistoryRow(
            entry_id=r[0],
            move_id=r[1],
            kind=r[2],
            operator=r[3],
            committed_at=r[4],
            step=r[5],
            op=r[6],
            before=None if r[7] is None else decode(r[7]),
            after=None if r[8] is None else decode(r[8]),
        )
        for r in rows
    ]


def _summary(row: tuple[Any, ...]) -> MoveSummary:
    return MoveSummary(
        id=row[0],
        kind=row[1],
        committed_at=canonical_time(row[2]),
        operator=row[3],
        reason=row[4],
        subjects=None if row[5] is None else decode(row[5]),
        reverts_id=row[6],
        reverted_by=row[7],
    )


# One condition of ``list_moves``: any of these (key, value) pairs is among the subjects.
SubjectMatch = Sequence[tuple[str, object]]


def _subject_clause(match: SubjectMatch) -> tuple[str, list[Any]]:
    """``subjects`` holds the value under the key, as the value itself or in a list of them.

    Containment (``@>``), so the GIN index on ``subjects`` answers it.
    """
    if not match:
        raise LedgerError("a subject filter needs at least one key=value")
    parts: list[str] = []
    params: list[Any] = []
    for key, value in match:
        parts.append("m.subjects @> %s::jsonb OR m.subjects @> %s::jsonb")
        params += [encode({key: value}).decode(), encode({key: [value]}).decode()]
    return "(" + " OR ".join(parts) + ")", params


def list_moves(
    subjects: Iterable[SubjectMatch] = (), since: date | None = None, using: str = "default"
) -> list[MoveSummary]:
    """Sealed moves, oldest first, optionally filtered on their subjects and date.

    Args:
        subjects: conditions that must all hold; each is a list of ``(key, value)`` pairs of
            which one must match: the move's subjects hold ``value`` under ``key``, as the
            value or as an item of a list (``[("project", 7)]`` matches ``{"project": 7}``
            and ``{"project": [3, 7]}``).
        since: only moves committed on or after this date (UTC).

    Raises:
        LedgerError: a condition with no pair; the database's ledger migrations are not all
            applied.
    """
    require_current(using)
    clauses: list[str] = []
    params: list[Any] = []
    for match in subjects:
        clause, values = _subject_clause(match)
        clauses.append(clause)
        params += values
    if since is not None:
        clauses.append("m.committed_at >= %s::date")
        params.append(since)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT m.id, m.kind, m.committed_at, m.operator, m.reason, m.subjects::text, "
            "m.reverts_id, r.id FROM ledger_move m "
            f"LEFT JOIN ledger_move r ON r.reverts_id = m.id {where} ORDER BY m.id",
            params,
        )
        return [_summary(row) for row in cursor.fetchall()]


def move_detail(move_id: int, using: str = "default") -> MoveDetail:
    """A move's header, steps, writes outside steps, digest and revert lineage.

    Raises:
        MoveNotFound: no such move.
    """
    header, digest = read_header(move_id, using)
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT id FROM ledger_move WHERE reverts_id = %s", [move_id])
        row = cursor.fetchone()
        cursor.execute(
            "SELECT table_name, op, sum(row_count) FROM ledger_change "
            "WHERE move_id = %s AND step_id IS NULL GROUP BY 1, 2 ORDER BY 1, 2",
            [move_id],
        )
        outside = [OutsideWrites(table=t, op=o, rows=n) for t, o, n in cursor.fetchall()]
    return MoveDetail(
        header=header, digest=digest, reverted_by=row[0] if row else None, outside_steps=outside
    )


def table_exists(table: str, using: str = "default") -> bool:
    """True when the table exists, or the ledger holds entries for it."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(quote_ident(%s)) IS NOT NULL "
            "OR EXISTS (SELECT 1 FROM ledger_change WHERE table_name = %s)",
            [table, table],
        )
        return bool(cursor.fetchone()[0])
