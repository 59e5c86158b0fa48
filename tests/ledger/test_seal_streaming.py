"""Sealing reads the keys of a large change group in slices: same digest, bounded memory."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

import ledger
from ledger import digest, seal


@pytest.mark.parametrize(
    ("inline_keys", "slice_keys", "hash_keys"),
    [(3, 2, 1 << 14), (3, 4, 3), (1_000_000, 1_000_000, 1 << 14)],
)
def test_large_groups_hash_the_same_sliced_or_whole(
    seeded, monkeypatch, inline_keys, slice_keys, hash_keys
):
    monkeypatch.setattr(seal, "_INLINE_KEYS", inline_keys)
    monkeypatch.setattr(seal, "_SLICE_KEYS", slice_keys)
    monkeypatch.setattr(digest, "_LEAVES_AT_ONCE", hash_keys)
    with connection.cursor() as cur:
        cur.execute("UPDATE ledger_t_child SET name = 'before'")
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        rec.step("[retag]"),
        connection.cursor() as cur,
    ):
        cur.execute("UPDATE ledger_t_child SET name = 'after'")
        updated = cur.rowcount
    # Verified with the default sizes: the seal's slices and parts must hash as one group.
    monkeypatch.undo()
    assert updated > 3
    report = ledger.verify(rec.move_id)
    assert report.ok, report.failures
    assert report.entries_checked == updated
    with connection.cursor() as cur:
        cur.execute("SELECT max(row_count) FROM ledger_change WHERE move_id = %s", [rec.move_id])
        assert cur.fetchone()[0] == updated  # one group, sliced when over 3 keys
