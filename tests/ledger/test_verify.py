"""Tamper detection: with the protection bypassed as a superuser would, verify names the record."""

from __future__ import annotations

import gc
import importlib
import json

import msgspec
import pytest
from django.db import connection

import ledger
from ledger.digest import group_hash, group_leaves
from tests.ledger.builders import record, superuser_bypass

# Every test runs on groups read whole and on groups read a window at a time.
pytestmark = pytest.mark.usefixtures("key_windows")

verify_module = importlib.import_module("ledger.verify")  # ledger.verify is the function


@pytest.fixture
def chain(seeded):
    """Three sealed moves: 10 single-row groups, one 3-row group, one insert."""
    first = record("UPDATE ledger_t_child SET name = 'a' || id")
    second = record("UPDATE ledger_t_child SET name = 'same' WHERE id <= 3")
    third = record("INSERT INTO ledger_t_parent (name) VALUES ('z')")
    assert ledger.verify().ok
    with connection.cursor() as cursor:
        # Run the seal's deferred FK checks now, as they run at commit before any tampering.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return first, second, third


def _tamper(sql: str, params=()) -> None:
    with superuser_bypass(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _first_failure(move_id=None):
    report = ledger.verify(move_id)
    assert not report.ok
    return report.failures[0]


def test_an_untouched_chain_verifies(chain):
    report = ledger.verify()
    assert report.moves_checked == 3
    assert report.entries_checked == 14
    assert report.last_digest == chain[2].digest
    assert ledger.verify(chain[1].move_id).entries_checked == 3


def test_verify_pauses_the_cycle_collector_only_while_it_reads_entries(chain, monkeypatch):
    seen = []
    real = verify_module.verify_entries

    def spy(*args):
        seen.append(gc.isenabled())
        return real(*args)

    monkeypatch.setattr(verify_module, "verify_entries", spy)
    assert gc.isenabled()
    assert ledger.verify().ok
    assert seen == [False, False, False]
    assert gc.isenabled()


def test_an_edited_entry_is_named(chain):
    first = chain[0]
    _tamper(
        'UPDATE ledger_change SET after = \'{"name": "forged"}\' WHERE id = %s',
        [first_entry(first.move_id) + 4],
    )
    failure = _first_failure()
    assert failure.move_id == first.move_id
    assert failure.entry_id == first_entry(first.move_id) + 4
    assert "do not match their recorded hash" in failure.reason


def test_an_edited_pk_inside_a_group_names_the_group(chain):
    second = chain[1]
    start = first_entry(second.move_id)
    _tamper("UPDATE ledger_change SET pks = '{1,2,9}' WHERE id = %s", [start])
    failure = _first_failure(second.move_id)
    assert (failure.move_id, failure.entry_id) == (second.move_id, start)
    assert f"entries {start}..{start + 2}" in failure.reason


def test_a_deleted_entry_is_named(chain):
    first = chain[0]
    start = first_entry(first.move_id)
    _tamper("DELETE FROM ledger_change WHERE id = %s", [start + 2])
    failure = _first_failure()
    assert (failure.move_id, failure.entry_id) == (first.move_id, start + 2)
    assert f"entry {start + 2} is missing" in failure.reason


def test_an_inserted_entry_is_named(chain):
    third = chain[2]
    last = first_entry(third.move_id)
    _tamper(
        "INSERT INTO ledger_change (id, move_id, step_id, table_name, op, row_count, pks, "
        "before, after, hash) SELECT id + 1, move_id, step_id, table_name, op, 1, '{99}', "
        "before, after, hash FROM ledger_change WHERE id = %s",
        [last],
    )
    failure = _first_failure()
    assert (failure.move_id, failure.entry_id) == (third.move_id, last + 1)
    assert "do not match their recorded hash" in failure.reason


def test_reordered_entries_are_named(chain):
    first = chain[0]
    start = first_entry(first.move_id)
    _tamper("UPDATE ledger_change SET id = -1 WHERE id = %s", [start])
    _tamper("UPDATE ledger_change SET id = %s WHERE id = %s", [start, start + 1])
    _tamper("UPDATE ledger_change SET id = %s WHERE id = -1", [start + 1])
    failure = _first_failure()
    assert (failure.move_id, failure.entry_id) == (first.move_id, start)


def test_an_edited_header_is_named(chain):
    second = chain[1]
    _tamper("UPDATE ledger_move SET reason = 'a better story' WHERE id = %s", [second.move_id])
    failure = _first_failure()
    assert (failure.move_id, failure.entry_id) == (second.move_id, None)
    assert "header does not match its digest" in failure.reason


def test_an_edited_step_count_is_named(chain):
    first = chain[0]
    _tamper("UPDATE ledger_step SET captured_rows = 1 WHERE move_id = %s", [first.move_id])
    failure = _first_failure()
    assert failure.move_id == first.move_id
    assert "header or step field was edited" in failure.reason


def test_a_move_removed_from_the_chain_is_named(chain):
    first, second, third = chain
    _tamper("DELETE FROM ledger_change WHERE move_id = %s", [second.move_id])
    _tamper("DELETE FROM ledger_step WHERE move_id = %s", [second.move_id])
    _tamper("DELETE FROM ledger_move WHERE id = %s", [second.move_id])
    failure = _first_failure()
    assert (failure.move_id, failure.entry_id) == (third.move_id, None)
    assert f"does not match the digest of move {first.move_id}" in failure.reason


def test_an_entry_rewritten_with_a_recomputed_hash_fails_the_merkle_root(chain):
    first = chain[0]
    start = first_entry(first.move_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT step_id, pks FROM ledger_change WHERE id = %s", [start])
        step_id, pks = cursor.fetchone()
    forged = {"name": "forged"}
    leaves = group_leaves(
        first_id=start,
        move_id=first.move_id,
        step_id=step_id,
        table="ledger_t_child",
        op="U",
        pks=pks,
        before={"name": "c1"},
        after=forged,
    )
    _tamper(
        "UPDATE ledger_change SET after = %s::jsonb, hash = %s WHERE id = %s",
        [json.dumps(forged), group_hash(leaves), start],
    )
    failure = _first_failure()
    assert (failure.move_id, failure.entry_id) == (first.move_id, None)
    assert "do not match the sealed Merkle root" in failure.reason


def test_orphan_entries_are_named(chain):
    third = chain[2]
    _tamper("DELETE FROM ledger_step WHERE move_id = %s", [third.move_id])
    _tamper("DELETE FROM ledger_move WHERE id = %s", [third.move_id])
    failure = _first_failure()
    assert failure.entry_id == first_entry(third.move_id)
    assert "which is not in the ledger" in failure.reason


def test_verifying_an_unknown_move_raises(chain):
    with pytest.raises(ledger.MoveNotFound, match="move 4242 does not exist"):
        ledger.verify(4242)


def first_entry(move_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM ledger_change WHERE move_id = %s", [move_id])
        return cursor.fetchone()[0]


def test_assert_intact_raises_a_typed_error_naming_the_entry(chain):
    first = chain[0]
    assert ledger.assert_intact().ok
    start = first_entry(first.move_id)
    _tamper("UPDATE ledger_change SET op = 'D' WHERE id = %s", [start])
    with pytest.raises(
        ledger.TamperDetected, match=f"failed at move {first.move_id}, entry {start}: "
    ) as caught:
        ledger.assert_intact()
    assert (caught.value.move_id, caught.value.entry_id) == (first.move_id, start)


def test_an_edit_beyond_float_precision_is_caught(tables):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO ledger_t_parent (name) VALUES ('p')")
        cursor.execute(
            "INSERT INTO ledger_t_child (parent_id, name, score) "
            "SELECT id, 'c', 0.12345678901234567890123 FROM ledger_t_parent"
        )
    rec = record("UPDATE ledger_t_child SET score = 1.10000000000000000001")
    (entry,) = ledger.entries(rec.move_id)
    assert str(entry.after["score"]) == "1.10000000000000000001"
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    _tamper(
        "UPDATE ledger_change SET after = '{\"score\": 1.10000000000000000002}' "
        "WHERE move_id = %s",
        [rec.move_id],
    )
    failure = _first_failure()
    assert (failure.move_id, failure.entry_id) == (rec.move_id, first_entry(rec.move_id))


def test_an_edited_key_deep_in_a_large_group_names_the_group(seeded):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO ledger_t_child (name) SELECT 'x' FROM generate_series(1, 40)")
    move = record("UPDATE ledger_t_child SET name = 'y' WHERE name = 'x'")
    assert ledger.verify(move.move_id).ok
    start = first_entry(move.move_id)
    _tamper("UPDATE ledger_change SET pks[31] = pks[32], pks[32] = pks[31] WHERE id = %s", [start])
    failure = _first_failure(move.move_id)
    assert (failure.move_id, failure.entry_id) == (move.move_id, start)
    assert f"entries {start}..{start + 39}" in failure.reason


@pytest.mark.parametrize("where", ["single-row group", "group of three"])
def test_a_before_or_after_that_is_not_a_row_is_named_not_raised(chain, where):
    # A jsonb column takes any JSON: an edit can leave an array where a row was.
    move = chain[0] if where == "single-row group" else chain[1]
    entry = first_entry(move.move_id) + (4 if where == "single-row group" else 0)
    _tamper("UPDATE ledger_change SET after = '[1]' WHERE id = %s", [entry])
    failure = _first_failure()
    assert (failure.move_id, failure.entry_id) == (move.move_id, entry)
    assert failure.reason.endswith("hold a before or after that is not a row: edited")


@pytest.mark.parametrize("listed", ["no column", "one column less", "more columns"])
def test_rows_verify_whatever_columns_the_header_lists(chain, listed):
    # The header's column lists only choose how rows are decoded; the header itself is
    # checked against its digest after the entries.
    from ledger.digest import MerkleBuilder
    from ledger.queries import read_header
    from ledger.tablegroups import iter_table_groups

    move = chain[0]
    header, _ = read_header(move.move_id)
    tables = {}
    for table, snapshot in header.tables.items():
        columns = sorted(snapshot["columns"])
        changed = {
            "no column": [],
            "one column less": [c for c in columns if c != "name"],  # the rows hold it
            "more columns": [*columns, "zz_added_since"],
        }[listed]
        tables[table] = {**snapshot, "columns": dict.fromkeys(changed, "text")}
    relisted = msgspec.structs.replace(header, tables=tables)
    builder = MerkleBuilder()
    failure = verify_module.verify_entries(relisted, iter_table_groups(relisted), builder)
    assert failure is None
    assert builder.root() == header.entries_root
