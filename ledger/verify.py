"""Recompute every link of the ledger from the database and name the first record that differs.

For each sealed move, in chain order: the chain link to the previous move, then each change
group (contiguous entry ids, a declared step, its stored hash), the entry count, the Merkle
root and finally the move's digest over its header. A database superuser can rewrite all of
these consistently; keep exported digests outside the database to catch that (docs/compliance.md).
"""

from __future__ import annotations

from django.db import connections

from ledger.digest import GroupDigest, MerkleBuilder, move_digest
from ledger.errors import MoveNotFound, TamperDetected
from ledger.queries import iter_groups, read_headers
from ledger.structs import MoveHeader, VerifyFailure, VerifyReport


def _span(first: int, count: int) -> str:
    return f"entry {first}" if count == 1 else f"entries {first}..{first + count - 1}"


_SLICE = 1 << 14


def verify_entries(header: MoveHeader, groups, builder: MerkleBuilder) -> VerifyFailure | None:
    """Check a move's change groups in order; feed their leaves to ``builder``.

    Returns:
        The first failure found, or None.
    """
    failure = None
    step_ids = {step.id for step in header.steps}
    expected = header.first_entry_id
    for group in groups:
        if failure is None:
            failure = _check_group(header, group, expected, step_ids)
        digest = GroupDigest(
            builder,
            first_id=group.id,
            move_id=header.id,
            step_id=group.step_id,
            table=group.table,
            op=group.op,
            before=group.before,
            after=group.after,
        )
        # In slices: a group of a million keys never holds a million leaves at once.
        for start in range(0, len(group.pks), _SLICE):
            digest.add(group.pks[start : start + _SLICE])
        if failure is None and digest.hexdigest() != group.hash:
            failure = VerifyFailure(
                move_id=header.id,
                entry_id=group.id,
                reason=f"{_span(group.id, len(group.pks))} ({group.op} {group.table}) do not "
                "match their recorded hash: edited or reordered",
            )
        expected = group.id + len(group.pks)
    if failure is None and builder.count != header.entry_count:
        failure = VerifyFailure(
            move_id=header.id,
            entry_id=expected,
            reason=f"move holds {builder.count} entries but was sealed with {header.entry_count}",
        )
    return failure


def _check_group(header, group, expected, step_ids) -> VerifyFailure | None:
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
    entry_failure = verify_entries(header, iter_groups(header.id, using), builder)
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


def verify(move_id: int | None = None, using: str = "default") -> VerifyReport:
    """Recompute every link of the ledger, or of one move and its link to the previous one.

    Args:
        move_id: only this move (its chain link to its predecessor included).
        using: the database alias.

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
    last = None
    for header, stored in read_headers(None, using):
        if move_id is None or header.id == move_id:
            found = True
            failure, count = verify_move(header, stored, previous, using)
            moves += 1
            entries += count
            if failure:
                failures.append(failure)
        previous = (header.id, stored)
        last = stored
    if move_id is not None and not found:
        raise MoveNotFound(move_id)
    if move_id is None and (orphan := _orphans(using)):
        failures.append(orphan)
    return VerifyReport(
        ok=not failures,
        moves_checked=moves,
        entries_checked=entries,
        failures=failures,
        last_digest=last,
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
