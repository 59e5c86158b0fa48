"""A seal reads the ledger by key: its cost does not grow with the moves sealed before it."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

import ledger
from ledger import protect
from tests.ledger import builders

_CHANGE_SCANS = (
    "SELECT seq_scan, idx_scan FROM pg_stat_xact_user_tables WHERE relname = 'ledger_change'"
)


def _record(sql: str) -> tuple[int, tuple[int, int]]:
    """A move of one statement; its id, and how its transaction read ledger_change (scans of
    the whole table, scans of an index), the seal included."""
    with transaction.atomic():
        with (
            ledger.recording(command="t", reason="r", operator="7") as rec,
            rec.step("[write]"),
            connection.cursor() as cur,
        ):
            cur.execute(sql)
        with connection.cursor() as cur:
            cur.execute(_CHANGE_SCANS)
            scans = cur.fetchone()
    assert rec.move_id is not None
    return rec.move_id, scans


@pytest.mark.django_db(transaction=True)
def test_a_seal_reads_the_change_groups_by_key_however_many_the_ledger_holds(
    committed_tables,
):
    builders.seed()
    # An earlier move of 5,000 single-row groups, with the statistics a live ledger has.
    _record(
        "INSERT INTO ledger_t_note (code, body) "
        "SELECT 'bulk-' || g, 'x' FROM generate_series(1, 5000) g"
    )
    builders.execute("ANALYZE ledger_move, ledger_step, ledger_change")
    move_id, (whole, by_index) = _record("UPDATE ledger_t_child SET name = 'sealed after'")
    # The next entry id, in the seal and in ledger_seal_write alike, and the check that the
    # move's groups follow one another: each by an index, none over every group.
    assert whole == 0
    assert by_index > 0
    report = ledger.verify(move_id)
    assert report.ok, report.failures


@pytest.mark.parametrize("groups", [0, 1, 3])
def test_the_next_entry_id_follows_the_last_group(seeded, groups):
    # Read by key (version 2) or over every group (version 1), the next entry id is the same.
    for n in range(groups):
        _record(
            f"INSERT INTO ledger_t_note (code) SELECT 'g{n}-' || g FROM generate_series(1, 2) g"
        )
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT {protect.NEXT_ENTRY}, "
            "(SELECT coalesce(max(id + row_count), 1) FROM ledger_change)"
        )
        by_key, over_all = cur.fetchone()
    assert by_key == over_all
