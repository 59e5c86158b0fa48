"""Start and seal a recording: install capture, then write the move once, complete.

``start`` installs the capture triggers and the staging table and sets the move's GUCs.
``finish`` drops the triggers, reads the staged groups once to hash them, and writes the
steps, the change groups (ids and hashes joined in one set-based INSERT ... SELECT from the
staging table) and the header with its digest. Nothing is updated afterwards: the ledger
tables refuse UPDATE and DELETE.
"""

from __future__ import annotations

from collections.abc import Iterator
from hashlib import sha256
from typing import TYPE_CHECKING

from ledger import config
from ledger.capture import install_capture, uninstall_capture
from ledger.digest import (
    GroupDigest,
    MerkleBuilder,
    canonical_time,
    decode,
    encode,
    move_digest,
)
from ledger.registry import TableSpec
from ledger.structs import MoveHeader

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection

    from ledger.context import Recording


def start(raw: PgConnection, specs: tuple[TableSpec, ...], move_id: int) -> dict[str, object]:
    """Install capture for ``move_id`` inside the current transaction.

    Returns:
        The snapshot of the captured tables' columns (stored in the header).
    """
    tables = install_capture(raw, specs)
    with raw.cursor() as cursor:
        # pgtrigger's per-row ignore check opens a subtransaction while this GUC is unset,
        # which goes quadratic against deferred FK checks (see docs/ledger.md).
        cursor.execute(
            "SELECT set_config('ledger.move_id', %s, true), "
            "set_config('ledger.step_id', '', true), "
            "CASE WHEN coalesce(current_setting('pgtrigger.ignore', true), '') = '' "
            "THEN set_config('pgtrigger.ignore', '{}', true) END",
            [str(move_id)],
        )
    return tables


def schema_fingerprint(raw: PgConnection, specs: tuple[TableSpec, ...]) -> str:
    """sha256 of the applied migrations of the registered tables' apps and the ledger."""
    apps = sorted({spec.app_label for spec in specs if spec.app_label} | {"ledger"})
    with raw.cursor() as cursor:
        cursor.execute(
            "SELECT app, name FROM django_migrations WHERE app = ANY(%s) ORDER BY app, name",
            [apps],
        )
        applied = [list(row) for row in cursor.fetchall()]
    return "sha256:" + sha256(encode({"apps": apps, "applied": applied})).hexdigest()


# Groups with more keys than this are not fetched whole: their keys are streamed, so the
# memory of sealing does not grow with the largest statement of the move.
_INLINE_KEYS = 10_000


def _stream_keys(raw: PgConnection, seq: int) -> Iterator[list[str]]:
    """The keys of one staged group, in order, a fetch at a time."""
    with raw.cursor(name=f"ledger_seal_keys_{seq}") as keys:
        keys.itersize = config.fetch_size() * 10
        keys.execute(
            "SELECT u.pk FROM pg_temp.ledger_staging s "
            "CROSS JOIN LATERAL unnest(s.pks) WITH ORDINALITY AS u(pk, n) WHERE s.seq = %s",
            [seq],
        )
        while batch := keys.fetchmany(keys.itersize):
            yield [pk for (pk,) in batch]


def _hash_staging(raw: PgConnection, move_id: int, first_id: int):
    """Hash the staged groups in order: their entry ids, group hashes and the Merkle root."""
    builder = MerkleBuilder()
    seqs: list[int] = []
    ids: list[int] = []
    hashes: list[str] = []
    next_id = first_id
    with raw.cursor(name="ledger_seal") as cursor:
        cursor.itersize = config.fetch_size()
        cursor.execute(
            "SELECT seq, step_id, table_name, op, cardinality(pks), "
            "CASE WHEN cardinality(pks) <= %s THEN pks END, before::text, after::text "
            "FROM pg_temp.ledger_staging ORDER BY seq",
            [_INLINE_KEYS],
        )
        for seq, step_id, table, op, size, pks, before, after in cursor:
            group = GroupDigest(
                builder,
                first_id=next_id,
                move_id=move_id,
                step_id=step_id,
                table=table,
                op=op,
                before=None if before is None else decode(before),
                after=None if after is None else decode(after),
            )
            for chunk in [pks] if pks is not None else _stream_keys(raw, seq):
                group.add(chunk)
            seqs.append(seq)
            ids.append(next_id)
            hashes.append(group.hexdigest())
            next_id += size
    return builder, seqs, ids, hashes


_INSERT_MOVE = """
INSERT INTO ledger_move (id, kind, reverts_id, command, arguments, reason, operator, started_at,
    committed_at, schema_fingerprint, tables, context_id, entry_count, first_entry_id,
    entries_root, digest, prev_digest)
VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s::jsonb, %s::uuid, %s, %s, %s, %s, %s)
"""
_INSERT_STEPS = """
INSERT INTO ledger_step (id, move_id, seq, label, action, expected_rows, captured_rows)
SELECT s.id, %s, s.seq, s.label, s.action, s.expected_rows, s.captured_rows
FROM unnest(%s::bigint[], %s::int[], %s::text[], %s::text[], %s::bigint[], %s::bigint[])
    AS s(id, seq, label, action, expected_rows, captured_rows)
"""
_INSERT_CHANGES = """
INSERT INTO ledger_change (id, move_id, step_id, table_name, op, row_count, pks, before, after,
    hash)
SELECT h.id, %s, s.step_id, s.table_name, s.op, s.row_count, s.pks, s.before, s.after, h.hash
FROM pg_temp.ledger_staging AS s
JOIN unnest(%s::bigint[], %s::bigint[], %s::text[]) AS h(seq, id, hash) USING (seq)
ORDER BY h.id
"""


def finish(
    raw: PgConnection,
    specs: tuple[TableSpec, ...],
    *,
    rec: Recording,
    kind: str,
    command: str,
    arguments: dict[str, object],
    reason: str,
    operator: str,
    reverts: int | None,
    tables: dict[str, object],
) -> tuple[str, int]:
    """Drop capture and write the sealed move. Returns its digest and entry count."""
    uninstall_capture(raw, specs)
    with raw.cursor() as cursor:
        cursor.execute("SELECT id + row_count FROM ledger_change ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
        first_id = row[0] if row else 1
        cursor.execute("SELECT digest FROM ledger_move ORDER BY id DESC LIMIT 1")
        row = cursor.fetchone()
        prev_digest = row[0] if row else None
        # Hash arguments and tables as the database stores them (jsonb rewrites numbers and
        # key order), so verification, which reads them back, finds the same bytes.
        cursor.execute(
            "SELECT clock_timestamp(), %s::jsonb::text, %s::jsonb::text",
            [encode(arguments).decode(), encode(tables).decode()],
        )
        committed_at, arguments_json, tables_json = cursor.fetchone()
    arguments, tables = decode(arguments_json), decode(tables_json)
    builder, seqs, ids, hashes = _hash_staging(raw, rec.move_id, first_id)
    steps = list(rec.steps)
    header = MoveHeader(
        id=rec.move_id,
        kind=kind,
        reverts_id=reverts,
        command=command,
        arguments=arguments,
        reason=reason,
        operator=operator,
        started_at=canonical_time(rec.started_at),
        committed_at=canonical_time(committed_at),
        schema_fingerprint=schema_fingerprint(raw, specs),
        tables=tables,
        context_id=rec.context_id,
        entry_count=builder.count,
        first_entry_id=first_id if builder.count else None,
        entries_root=builder.root(),
        prev_digest=prev_digest,
        steps=steps,
    )
    digest = move_digest(header)
    with raw.cursor() as cursor:
        cursor.execute(
            _INSERT_MOVE,
            [
                header.id,
                kind,
                reverts,
                command,
                arguments_json,
                reason,
                operator,
                rec.started_at,
                committed_at,
                header.schema_fingerprint,
                tables_json,
                header.context_id,
                header.entry_count,
                header.first_entry_id,
                header.entries_root,
                digest,
                prev_digest,
            ],
        )
        cursor.execute(
            _INSERT_STEPS,
            [
                rec.move_id,
                [s.id for s in steps],
                [s.seq for s in steps],
                [s.label for s in steps],
                [s.action for s in steps],
                [s.expected_rows for s in steps],
                [s.captured_rows for s in steps],
            ],
        )
        cursor.execute(_INSERT_CHANGES, [rec.move_id, seqs, ids, hashes])
        cursor.execute(
            "DROP TABLE pg_temp.ledger_staging; "
            "SELECT set_config('ledger.move_id', '', true), set_config('ledger.step_id', '', true)"
        )
    return digest, builder.count
