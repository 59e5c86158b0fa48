"""A large change group's keys, read a window at a time (``ledger.groupkeys.StoredKeys``):
the same keys, in the same order, as the stored array, each window read once."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

import ledger
from ledger import groupkeys
from ledger.digest import group_leaves, leaf_parts
from ledger.groupkeys import StoredKeys
from ledger.queries import entries, iter_groups

ROWS = 40


@pytest.fixture
def grouped(seeded, monkeypatch):
    """One move whose one update group holds 40 keys; windows of 7 keys."""
    monkeypatch.setattr(groupkeys, "WINDOW_KEYS", 7)
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        rec.step("[s]"),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO ledger_t_child (name) SELECT 'x' FROM generate_series(1, %s)", [ROWS]
        )
        cursor.execute("UPDATE ledger_t_child SET name = 'y' WHERE name = 'x'")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, pks FROM ledger_change WHERE move_id = %s AND op = 'U'", [rec.move_id]
        )
        change_id, pks = cursor.fetchone()
    assert len(pks) == ROWS
    return rec, change_id, pks


_index = st.integers(-ROWS - 3, ROWS + 3)


@given(start=st.none() | _index, stop=st.none() | _index, step=st.sampled_from([None, 1, 2, -1]))
def test_any_slice_is_the_stored_arrays(grouped, start, stop, step):
    _rec, change_id, pks = grouped
    keys = StoredKeys(change_id, len(pks), "default")
    assert keys[start:stop:step] == pks[start:stop:step]


@given(index=_index)
def test_any_index_is_the_stored_arrays_or_an_index_error(grouped, index):
    _rec, change_id, pks = grouped
    keys = StoredKeys(change_id, len(pks), "default")
    if -ROWS <= index < ROWS:
        assert keys[index] == pks[index]
    else:
        with pytest.raises(IndexError, match="change group key index out of range"):
            keys[index]


def test_read_in_order_each_window_is_read_once(grouped):
    _rec, change_id, pks = grouped
    keys = StoredKeys(change_id, len(pks), "default")
    with CaptureQueriesContext(connection) as queries:
        assert list(keys) == pks
    assert len(queries) == 6  # 40 keys, 7 a window
    keys = StoredKeys(change_id, len(pks), "default")
    with CaptureQueriesContext(connection) as queries:
        parts = list(_slices(keys, 3))
    assert [key for part in parts for key in part] == pks
    # Slices of 3 straddle windows of 7: a window starts where a slice falls outside the last.
    assert len(queries) == 7


def _slices(keys, size):
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def test_iter_groups_hands_out_a_large_group_as_stored_keys(grouped, monkeypatch):
    rec, _change_id, pks = grouped
    monkeypatch.setattr("ledger.queries.INLINE_KEYS", ROWS - 1)
    large = [g for g in iter_groups(rec.move_id) if g.size > ROWS - 1]
    [group] = large
    assert isinstance(group.pks, StoredKeys)
    assert list(group.pks) == pks
    shared = group.shared(rec.move_id)
    parts = leaf_parts(first_id=group.id, pks=group.pks, **shared)
    hashed = [leaf for _first, part in parts for leaf in part]
    assert hashed == group_leaves(first_id=group.id, pks=pks, **shared)
    assert [e.pk for e in entries(rec.move_id) if e.op == "U"] == pks
