"""Seal a recording: check its capture held, then write the move once, complete.

``finish`` checks that the capture triggers and the captured tables' columns are what they were
when the recording started, counts each step's rows from what was staged (a step rolled back
by a savepoint counts nothing), takes the chain lock, gives out the move's id and its step and
entry ids (no gaps: ids are only taken by a seal that commits), reads the staged groups once
and hashes them while the server checks the transaction's deferred constraints (what the
commit would do after it, one core each), and writes the steps, the change groups (ids and
hashes joined in one set-based INSERT ... SELECT from the staging table) and the header with
its digest. Nothing is updated afterwards: the ledger tables refuse UPDATE and DELETE.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from hashlib import sha256
from typing import TYPE_CHECKING, Any

import msgspec
from django.db import IntegrityError, connections, transaction

from ledger import capture_state, config, constraints
from ledger.digest import GroupDigest, MerkleBuilder, canonical_time, decode, encode, move_digest
from ledger.errors import StepCountMismatch, one_line
from ledger.protect import NEXT_ENTRY
from ledger.signing import configured_signer
from ledger.spool import Keys, Spool, StagedGroup
from ledger.structs import SUBJECTS_VERSION, MoveHeader, StepRecord

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from ledger.capture import TableCapture
    from ledger.context import Recording
    from ledger.dbapi import Cursor


def schema_fingerprint(cursor: Cursor, apps: list[str]) -> str:
    """sha256 of the applied migrations of the given apps and the ledger."""
    apps, applied = _applied(cursor, apps)
    return _fingerprint(apps, applied)


def schema_unchanged_since(cursor: Cursor, apps: list[str], recorded: str) -> bool:
    """Whether ``recorded`` is this database's fingerprint (``schema_fingerprint``), or it with
    fewer of the ledger's own migrations applied: the given apps were not migrated since it
    was taken. The ledger's migrations change its own tables, never the captured ones."""
    apps, applied = _applied(cursor, apps)
    ledger = [row for row in applied if row[0] == "ledger"]
    for kept in range(len(ledger), -1, -1):  # all of them first: nothing migrated since
        later = ledger[kept:]
        # In the server's order, as the fingerprint was taken: only the later ones left out.
        if _fingerprint(apps, [row for row in applied if row not in later]) == recorded:
            return True
    return False


def _applied(cursor: Cursor, apps: list[str]) -> tuple[list[str], list[list[str]]]:
    apps = sorted(set(apps) | {"ledger"})
    cursor.execute(
        "SELECT app, name FROM django_migrations WHERE app = ANY(%s) ORDER BY app, name",
        [apps],
    )
    return apps, [list(row) for row in cursor.fetchall()]


def _fingerprint(apps: list[str], applied: list[list[str]]) -> str:
    return "sha256:" + sha256(encode({"apps": apps, "applied": applied})).hexdigest()


def apps_of(tables: Mapping[str, object]) -> list[str]:
    """The app labels of captured tables, from the labels in a move header's table snapshot."""
    labels = (str(t.get("label", "")) for t in tables.values() if isinstance(t, dict))
    return sorted({label.split(".", 1)[0] for label in labels if "." in label})


# A group's keys travel with it up to this many; a larger group's keys follow as JSON slices
# of at most _SLICE_KEYS keys: a group of a million keys is never fetched, nor held, whole, so
# the memory of sealing does not grow with the largest statement of the move.
_INLINE_KEYS = 20_000
_SLICE_KEYS = 100_000

# The keys of one staged group as JSON slices, in order. The array is read once into a
# variable (slicing the stored array would read it again for every slice). Finding where a
# slice starts walks the array from its first key, so few large slices cost less than many
# small ones: 1M keys in 0.1 s in slices of 100k, 0.24 s in slices of 20k, against 0.8 s for
# a row per key.
_KEY_SLICES = """
CREATE OR REPLACE FUNCTION pg_temp.ledger_key_slices(staged bigint, size integer)
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    keys text[];
    lo integer := 1;
BEGIN
    SELECT pks INTO keys FROM pg_temp.ledger_staging WHERE seq = staged;
    WHILE lo <= cardinality(keys) LOOP
        RETURN NEXT array_to_json(keys[lo:lo + size - 1])::text;
        lo := lo + size;
    END LOOP;
END
$$
"""


def _key_slices(connection: BaseDatabaseWrapper, seq: int) -> Iterator[str]:
    """The keys of a group too large to fetch with it, a few slices per round trip."""
    with connection.chunked_cursor() as slices:
        slices.execute("SELECT pg_temp.ledger_key_slices(%s, %s)", [seq, _SLICE_KEYS])
        while batch := slices.fetchmany(4):
            for (chunk,) in batch:
                yield chunk


def _spool_staging(connection: BaseDatabaseWrapper) -> Spool:
    """Copy the staged groups, keys included, out of the session, in staging order."""
    spool = Spool()
    with connection.cursor() as cursor:
        cursor.execute(_KEY_SLICES)
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            "SELECT seq, step, table_name, op, cardinality(pks), "
            "CASE WHEN cardinality(pks) <= %s THEN to_json(pks)::text END, before::text, "
            "after::text FROM pg_temp.ledger_staging ORDER BY seq",
            [_INLINE_KEYS],
        )
        rows = cursor.fetchmany(config.fetch_size())
        while rows:
            for seq, step, table, op, size, pks, before, after in rows:
                spool.add_group(StagedGroup(seq, step, table, op, size, before, after))
                if pks is not None:
                    spool.add_keys(pks)
                    continue
                for chunk in _key_slices(connection, seq):
                    spool.add_keys(chunk)
            rows = cursor.fetchmany(config.fetch_size())
    return spool


@dataclass(frozen=True)
class Hashed:
    """The staged groups hashed: the Merkle builder of their leaves, and per group its staging
    seq, first entry id and group hash."""

    builder: MerkleBuilder
    seqs: list[int]
    ids: list[int]
    hashes: list[str]


def _hash_spool(
    spool: Spool, move_id: int, first_id: int, first_step: int, stop: threading.Event
) -> Hashed:
    """Hash spooled groups in order (needs no connection: runs in a thread)."""
    builder = MerkleBuilder()
    seqs: list[int] = []
    ids: list[int] = []
    hashes: list[str] = []
    group: GroupDigest | None = None
    next_id = first_id
    for frame in spool.frames(stop):
        if isinstance(frame, Keys):
            assert group is not None, "keys before their group"
            group.add(_decode_keys(frame.pks))  # hashed a part at a time
            continue
        if group is not None:
            hashes.append(group.hexdigest())
        group = GroupDigest(
            builder,
            first_id=next_id,
            move_id=move_id,
            step_id=None if frame.step is None else first_step + frame.step - 1,
            table=frame.table,
            op=frame.op,
            before=None if frame.before is None else decode(frame.before),
            after=None if frame.after is None else decode(frame.after),
        )
        seqs.append(frame.seq)
        ids.append(next_id)
        next_id += frame.size
    if group is not None:
        hashes.append(group.hexdigest())
    return Hashed(builder=builder, seqs=seqs, ids=ids, hashes=hashes)


_decode_keys = msgspec.json.Decoder(list[str]).decode

_STAGED = "SELECT count(*), coalesce(max(seq), 0) FROM pg_temp.ledger_staging"


def _check_constraints(connection: BaseDatabaseWrapper, cursor: Cursor) -> str | None:
    """Run the deferred constraint checks now, in a savepoint. One that fails is left pending
    (rolling back the savepoint un-fires the checks): the commit raises it, as it would have
    (and a rehearsal, rolled back before any commit, still seals).

    Returns:
        What does not hold (the server's message on one line), or None.
    """
    deferred = constraints.deferred_by_default(cursor)
    try:
        with transaction.atomic(using=connection.alias):
            constraints.check_now(cursor)
    except IntegrityError as exc:
        return one_line(exc)
    finally:
        constraints.defer_again(cursor, deferred)
    return None


def _hash_while_checking(
    connection: BaseDatabaseWrapper, move_id: int, first_id: int, first_step: int
) -> tuple[Hashed, str | None]:
    """Hash the staged groups while the server checks the transaction's deferred constraints.

    Both would run one after the other anyway: Python hashes every leaf of the move, and
    the commit checks every deferred foreign key. Spooled first, the groups are hashed in a
    thread while this connection runs the checks (the driver lets go of the GIL while it
    waits), on two cores. A deferred trigger that writes a captured table while the checks
    run is captured (the recording is still open): the groups are then hashed again, from
    the database.

    Returns:
        The hashed groups, and the deferred constraint that does not hold (or None).
    """
    with connection.cursor() as cursor:
        cursor.execute(_STAGED)
        staged = cursor.fetchone()
        spool = _spool_staging(connection)
        stop = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(1, "ledger-seal-hash") as pool:
            hashing = pool.submit(_hash_spool, spool, move_id, first_id, first_step, stop)
            try:
                violation = _check_constraints(connection, cursor)
            except BaseException:
                stop.set()
                raise
            hashed = hashing.result()
        cursor.execute(_STAGED)
        if cursor.fetchone() == staged:
            return hashed, violation
    spool = _spool_staging(connection)
    return _hash_spool(spool, move_id, first_id, first_step, stop), violation


# The one write: ``ledger_seal_write`` (migration 0002, ``ledger.protect``) runs as the
# ledger's owner and refuses a move that does not extend the chain.
_SEAL = (
    "SELECT ledger_seal_write(%s::jsonb, %s::jsonb, %s::bigint[], %s::bigint[], %s::text[], %s)"
)
# Under the chain lock: the next ids and the link to the move sealed last.
# Each read by a key (an index scan), never a scan of a ledger table: a seal costs the same
# whatever the ledger's size.
_NEXT = f"""
SELECT (SELECT coalesce(max(id), 0) + 1 FROM ledger_move),
    (SELECT coalesce(max(id), 0) + 1 FROM ledger_step),
    {NEXT_ENTRY},
    (SELECT digest FROM ledger_move ORDER BY id DESC LIMIT 1),
    clock_timestamp()
"""


# Header fields stored as they are in their ledger_move column.
_STORED = (
    "id",
    "kind",
    "reverts_id",
    "command",
    "reason",
    "operator",
    "schema_fingerprint",
    "context_id",
    "entry_count",
    "first_entry_id",
    "entries_root",
    "prev_digest",
    "signer",
)


def _sealed_steps(cursor: Cursor, rec: Recording) -> list[StepRecord]:
    """Each step with the rows that were staged for it and survive (savepoints rolled back
    take theirs with them); a declared count that no longer holds refuses the seal."""
    cursor.execute(
        "SELECT step, sum(row_count) FROM pg_temp.ledger_staging "
        "WHERE NOT table_name = ANY(%s) GROUP BY step",
        [rec.history_tables],
    )
    counts = {step: int(n) for step, n in cursor.fetchall()}
    steps = []
    for step in rec.steps:
        captured = counts.get(step.seq, 0)
        if step.expected_rows is not None and captured != step.expected_rows:
            raise StepCountMismatch(
                step.label, step.expected_rows, captured, when="when the recording was sealed"
            )
        steps.append(msgspec.structs.replace(step, captured_rows=captured))
    return steps


class Sealed(msgspec.Struct, frozen=True, kw_only=True):
    """What sealing wrote: the move's id, digest, signature and steps."""

    move_id: int
    digest: str
    signature: str | None
    signer: str | None
    committed_at: str
    entry_count: int
    steps: list[StepRecord]
    # A deferred constraint that does not hold (the commit will raise it), or None: a caller
    # that can say better what is wrong refuses before its commit.
    constraint_violation: str | None = None


def finish(
    using: str,
    *,
    rec: Recording,
    captures: dict[str, TableCapture],
    state_before: dict[str, Any],
    header_fields: dict[str, object],
) -> Sealed:
    """Check the capture held and write the sealed move, signed when a key is configured.

    Returns:
        What was sealed.

    Raises:
        CaptureBroken: capture was disabled or a captured table altered during the recording.
        StepCountMismatch: a step's surviving rows differ from its declared count.
        LedgerError: the move a revert undoes was reverted meanwhile.
    """
    from ledger.context import check_reverts

    connection = connections[using]
    signer = configured_signer()  # read before any write: a bad key refuses the seal
    tables = {t: c.snapshot() for t, c in sorted(captures.items())}
    for table, capture in captures.items():
        if capture.spec.secret_columns:
            tables[table]["fingerprint"] = rec.fingerprint_key
    with connection.cursor() as cursor:
        capture_state.check_unchanged(state_before, capture_state.read_state(cursor, captures))
        steps = _sealed_steps(cursor, rec)
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [config.lock_key()])
        check_reverts(cursor, str(header_fields["kind"]), header_fields["reverts_id"])  # type: ignore[arg-type]
        cursor.execute(_NEXT)
        move_id, first_step, first_id, prev_digest, committed_at = cursor.fetchone()
        steps = [msgspec.structs.replace(s, id=first_step + s.seq - 1) for s in steps]
        # Hash arguments and tables as the database stores them (jsonb rewrites numbers and
        # key order), so verification, which reads them back, finds the same bytes.
        subjects = header_fields.get("subjects") or None
        cursor.execute(
            "SELECT %s::jsonb::text, %s::jsonb::text, %s::jsonb::text",
            [
                encode(header_fields["arguments"]).decode(),
                encode(tables).decode(),
                None if subjects is None else encode(subjects).decode(),
            ],
        )
        arguments_json, tables_json, subjects_json = cursor.fetchone()
        fingerprint = schema_fingerprint(cursor, apps_of(tables))
    hashed, violation = _hash_while_checking(connection, move_id, first_id, first_step)
    builder = hashed.builder
    # Version-gated: a move with no subjects encodes as every move did before they existed.
    extra: dict[str, object] = {}
    if subjects_json is not None:
        extra = {"v": SUBJECTS_VERSION, "subjects": decode(subjects_json)}
    header = MoveHeader(
        **extra,  # type: ignore[arg-type]
        id=move_id,
        kind=header_fields["kind"],  # type: ignore[arg-type]
        reverts_id=header_fields["reverts_id"],  # type: ignore[arg-type]
        command=str(header_fields["command"]),
        arguments=decode(arguments_json),
        reason=str(header_fields["reason"]),
        operator=str(header_fields["operator"]),
        started_at=canonical_time(rec.started_at),
        committed_at=canonical_time(committed_at),
        schema_fingerprint=fingerprint,
        tables=decode(tables_json),
        context_id=rec.context_id,
        entry_count=builder.count,
        first_entry_id=first_id if builder.count else None,
        entries_root=builder.root(),
        prev_digest=prev_digest,
        signer=signer.fingerprint if signer else None,
        steps=steps,
    )
    digest = move_digest(header)
    signature = signer.sign(digest) if signer else None
    row = {
        **{name: getattr(header, name) for name in _STORED},
        "arguments": decode(arguments_json),
        "tables": decode(tables_json),
        "subjects": None if subjects_json is None else decode(subjects_json),
        "started_at": rec.started_at.isoformat(),
        "committed_at": committed_at.isoformat(),
        "digest": digest,
        "signature": signature,
    }
    step_rows = [
        {k: getattr(s, k) for k in ("seq", "label", "action", "expected_rows", "captured_rows")}
        for s in steps
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            _SEAL,
            [
                encode(row).decode(),
                encode(step_rows).decode(),
                hashed.seqs,
                hashed.ids,
                hashed.hashes,
                first_step,
            ],
        )
        cursor.execute(
            "DROP TABLE pg_temp.ledger_staging; "
            "SELECT set_config('ledger.recording', '', true), set_config('ledger.step', '', true)"
        )
    return Sealed(
        move_id=move_id,
        digest=digest,
        signature=signature,
        signer=header.signer,
        committed_at=header.committed_at,
        entry_count=builder.count,
        steps=steps,
        constraint_violation=violation,
    )
