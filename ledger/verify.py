"""Recompute every link of the ledger from the database and name the first record that differs.

For each sealed move, in chain order: the chain link to the previous move, then each change
group (contiguous entry ids, a declared step, its stored hash), the entry count, the Merkle
root and finally the move's digest over its header. Someone able to write the database can rewrite
all of these consistently: signatures (a key the database never holds) and checkpoints (heads
kept outside the database) catch that, when given (docs/compliance.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from django.db import connections

from ledger import cycles
from ledger.checkpoint import CheckpointLine, compare
from ledger.digest import GroupDigest, MerkleBuilder, decode_row, entry_leaf, move_digest
from ledger.errors import MoveNotFound, TamperDetected
from ledger.queries import RawGroup, read_headers, signature_of
from ledger.signing import fingerprint, verify_signature
from ledger.structs import MoveHeader, VerifyFailure, VerifyReport
from ledger.tablegroups import TableGroup, iter_table_groups

if TYPE_CHECKING:
    from collections.abc import Iterable

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def _span(first: int, count: int) -> str:
    return f"entry {first}" if count == 1 else f"entries {first}..{first + count - 1}"


# Leaves of single-row groups reach the builder this many at a time.
_SLICE = 1 << 14


def verify_entries(
    header: MoveHeader, groups: Iterable[TableGroup | RawGroup], builder: MerkleBuilder
) -> VerifyFailure | None:
    """Check a move's change groups in order; feed their leaves to ``builder``.

    Returns:
        The first failure found, or None.
    """
    failure = None
    step_ids = {step.id for step in header.steps}
    expected = header.first_entry_id
    # Single-row groups (inserts and deletes) take a short path: their rows come decoded as
    # their table's struct (``TableGroup``), their leaf is their hash, and their leaves reach
    # the builder in batches, not one call each.
    single: list[bytes] = []
    for group in groups:
        # Entry ids and steps are checked in full only where the quick test fails.
        if failure is None and (
            group.id != expected or (group.step_id is not None and group.step_id not in step_ids)
        ):
            failure = _check_group(header, group, expected, step_ids)
        if len(group.pks) == 1:
            if isinstance(group, TableGroup):
                after, before = group.after, group.before
            else:  # a table or key the header does not list, or not a row
                rows = _as_dicts(group)
                if rows is None:
                    return failure or _not_a_row(header, group)
                after, before = rows
            leaf = entry_leaf(
                after,
                before,
                group.id,
                header.id,
                group.op,
                group.pks[0],
                group.step_id,
                group.table,
            )
            single.append(leaf)
            if len(single) == _SLICE:
                builder.extend(single)
                single = []
            if failure is None and leaf.hex() != group.hash:
                failure = _edited(header, group)
            expected = group.id + 1
            continue
        if single:
            builder.extend(single)
            single = []
        try:
            decoded = group.decoded()
        except msgspec.ValidationError:
            return failure or _not_a_row(header, group)
        digest = GroupDigest(builder, first_id=decoded.id, **decoded.shared(header.id))
        # Hashed a part at a time: a group of a million keys never holds a million leaves.
        digest.add(decoded.pks)
        if failure is None and digest.hexdigest() != group.hash:
            failure = _edited(header, group)
        expected = group.id + len(group.pks)
    if single:
        builder.extend(single)
    if failure is None and builder.count != header.entry_count:
        failure = VerifyFailure(
            move_id=header.id,
            entry_id=expected,
            reason=f"move holds {builder.count} entries but was sealed with {header.entry_count}",
        )
    return failure


def _as_dicts(group: RawGroup) -> tuple[object, object] | None:
    """A single-row group's after and before decoded as dicts (None where one is not a row)."""
    try:
        return decode_row(group.after), decode_row(group.before)
    except msgspec.ValidationError:
        return None


def _group_failure(header: MoveHeader, group: TableGroup | RawGroup, what: str) -> VerifyFailure:
    return VerifyFailure(
        move_id=header.id,
        entry_id=group.id,
        reason=f"{_span(group.id, len(group.pks))} ({group.op} {group.table}) {what}",
    )


def _edited(header: MoveHeader, group: TableGroup | RawGroup) -> VerifyFailure:
    return _group_failure(header, group, "do not match their recorded hash: edited or reordered")


def _not_a_row(header: MoveHeader, group: TableGroup | RawGroup) -> VerifyFailure:
    # Its leaves cannot be hashed, so nothing after it can be checked.
    return _group_failure(header, group, "hold a before or after that is not a row: edited")


def _check_group(
    header: MoveHeader, group: TableGroup | RawGroup, expected: int | None, step_ids: set[int]
) -> VerifyFailure | None:
    if expected is None:
        return VerifyFailure(
            move_id=header.id,
            entry_id=group.id,
            reason=f"entry {group.id} was added to a move sealed with no entries",
        )
    if group.id > expected:
        return VerifyFailure(
            move_id=header.id,
            entry_id=expected,
            reason=f"entry {expected} is missing (entries jump from {expected} to {group.id})",
        )
    if group.id < expected:
        return VerifyFailure(
            move_id=header.id,
            entry_id=group.id,
            reason=f"entry {group.id} overlaps the entries before it: inserted or renumbered",
        )
    if group.step_id is not None and group.step_id not in step_ids:
        return VerifyFailure(
            move_id=header.id,
            entry_id=group.id,
            reason=f"entry {group.id} names step {group.step_id}, which the move never declared",
        )
    return None


def verify_move(
    header: MoveHeader, stored_digest: str, previous: tuple[int, str] | None, using: str
) -> tuple[VerifyFailure | None, int]:
    """Verify one move against its predecessor. Returns its first failure and entry count."""
    failure = None
    expected_prev = previous[1] if previous else None
    if header.prev_digest != expected_prev:
        after = f"move {previous[0]}" if previous else "the start of the ledger"
        failure = VerifyFailure(
            move_id=header.id,
            entry_id=None,
            reason=f"chain link broken: prev_digest does not match the digest of {after} "
            "(a move was removed, inserted or altered)",
        )
    builder = MerkleBuilder()
    with cycles.paused():
        entry_failure = verify_entries(header, iter_table_groups(header, using), builder)
    failure = failure or entry_failure
    if failure is None and builder.root() != header.entries_root:
        failure = VerifyFailure(
            move_id=header.id,
            entry_id=None,
            reason="entries do not match the sealed Merkle root: entries and their hashes "
            "were rewritten",
        )
    if failure is None and move_digest(header) != stored_digest:
        failure = VerifyFailure(
            move_id=header.id,
            entry_id=None,
            reason="header does not match its digest: a header or step field was edited",
        )
    return failure, builder.count


def _orphans(using: str) -> VerifyFailure | None:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.id, c.move_id FROM ledger_change c WHERE NOT EXISTS "
            "(SELECT 1 FROM ledger_move m WHERE m.id = c.move_id) ORDER BY c.id LIMIT 1"
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return VerifyFailure(
        move_id=row[1],
        entry_id=row[0],
        reason=f"entry {row[0]} belongs to move {row[1]}, which is not in the ledger (removed?)",
    )


def _signature_failure(
    header: MoveHeader, digest: str, signature: str | None, public_key: Ed25519PublicKey
) -> VerifyFailure | None:
    expected = fingerprint(public_key)
    if header.signer is None:
        reason = f"move {header.id} is not signed (sealed with no signing key configured)"
    elif header.signer != expected:
        reason = f"move {header.id} names signer {header.signer}, not the given key {expected}"
    elif not verify_signature(public_key, digest, signature):
        reason = (
            f"move {header.id}'s signature does not verify with the given key: its digest was "
            "rewritten, or the move was forged"
        )
    else:
        return None
    return VerifyFailure(move_id=header.id, entry_id=None, reason=reason)


def _stored_digests(using: str) -> dict[int, str]:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT id, digest FROM ledger_move ORDER BY id")
        return dict(cursor.fetchall())


def _scope(
    public_key: Ed25519PublicKey | None,
    lines: list[CheckpointLine] | None,
    last_id: int | None,
) -> tuple[list[str], list[str]]:
    """What the verification covered, and what it leaves open, in words."""
    checked = ["every entry, Merkle root, digest and chain link in the database"]
    not_checked = []
    if public_key is not None:
        checked.append(f"signatures, with key {fingerprint(public_key)}")
    else:
        not_checked.append(
            "signatures (pass --public-key): someone able to write the database could rewrite "
            "moves and recompute every digest"
        )
    if lines is not None:
        head = lines[-1].move_id if lines else None
        checked.append(f"the checkpoint ({len(lines)} head(s), the last at move {head})")
        if public_key is None and last_id is not None and (head is None or last_id > head):
            not_checked.append(f"moves after move {head}: not in the checkpoint, and unsigned")
    else:
        not_checked.append(
            "a checkpoint (pass --checkpoint): deleting the newest moves would not be seen"
        )
    return checked, not_checked


def verify(
    move_id: int | None = None,
    using: str = "default",
    *,
    public_key: Ed25519PublicKey | None = None,
    checkpoint: list[CheckpointLine] | None = None,
    expected_digest: str | None = None,
) -> VerifyReport:
    """Recompute every link of the ledger, or of one move and its link to the previous one.

    Args:
        move_id: only this move (its chain link to its predecessor included).
        using: the database alias.
        public_key: check every verified move's signature with this key.
        checkpoint: heads kept outside the database; each must still be in the ledger.
        expected_digest: with ``move_id``, the digest kept for that move outside the database.

    Returns:
        A report; ``ok`` is False when any record does not match, and ``failures`` names
        the first mismatching record of each failing move, in ledger order.

    Raises:
        MoveNotFound: ``move_id`` is not a sealed move.
    """
    failures: list[VerifyFailure] = []
    previous: tuple[int, str] | None = None
    moves = entries = 0
    found = False
    last = last_id = None
    for header, stored in read_headers(None, using):
        if move_id is None or header.id == move_id:
            found = True
            failure, count = verify_move(header, stored, previous, using)
            if failure is None and public_key is not None:
                failure = _signature_failure(
                    header, stored, signature_of(header.id, using), public_key
                )
            moves += 1
            entries += count
            if failure:
                failures.append(failure)
            last, last_id = stored, header.id
        previous = (header.id, stored)
    if move_id is not None and not found:
        raise MoveNotFound(move_id)
    if move_id is None and (orphan := _orphans(using)):
        failures.append(orphan)
    if checkpoint is not None:
        failures += compare(checkpoint, _stored_digests(using))
    if expected_digest is not None and last != expected_digest.strip().lower():
        failures.append(
            VerifyFailure(
                move_id=last_id,
                entry_id=None,
                reason=f"move {last_id} has digest {last}, not the digest kept outside the "
                f"database ({expected_digest}): the move was rewritten",
            )
        )
    checked, not_checked = _scope(public_key, checkpoint, last_id)
    return VerifyReport(
        ok=not failures,
        moves_checked=moves,
        entries_checked=entries,
        failures=failures,
        last_digest=last,
        checked=checked,
        not_checked=not_checked,
    )


def assert_intact(move_id: int | None = None, using: str = "default") -> VerifyReport:
    """``verify`` for code that must stop on tampering (e.g. before reverting a move).

    Raises:
        TamperDetected: naming the first move and entry that do not match.
        MoveNotFound: ``move_id`` is not a sealed move.
    """
    report = verify(move_id, using)
    if not report.ok:
        first = report.failures[0]
        raise TamperDetected(
            failure_message(first), move_id=first.move_id, entry_id=first.entry_id
        )
    return report


def failure_message(failure: VerifyFailure) -> str:
    """One line naming the move and entry of a verification failure."""
    entry = f", entry {failure.entry_id}" if failure.entry_id is not None else ""
    return f"ledger verification failed at move {failure.move_id}{entry}: {failure.reason}"
