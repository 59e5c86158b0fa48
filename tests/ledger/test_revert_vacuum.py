"""A revert first vacuums the tables its move rewrote in bulk, before its transaction takes a
lock (``ledger.replay.vacuum``); the vacuum only saves time: where it cannot run, the revert
goes on."""

from __future__ import annotations

import os

import pytest
from django.db import OperationalError, connection

import ledger
from ledger.replay import engine, vacuum
from tests.ledger.toyworld import dump, reorganise, undo

pytestmark = pytest.mark.django_db(transaction=True)


def _vacuum_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT relname::text, vacuum_count FROM pg_stat_user_tables "
            "WHERE relname LIKE 'toyapp%%'"
        )
        return dict(cursor.fetchall())


def _watch(monkeypatch) -> list[str]:
    """What happens in order: each vacuum's tables, the revert's first lock."""
    events: list[str] = []
    real_vacuum, real_lock = vacuum._vacuum, engine._lock

    def vacuumed(table, using):
        real_vacuum(table, using)
        events.append(f"vacuumed {table}")

    def locked(run):
        events.append("lock")
        return real_lock(run)

    monkeypatch.setattr(vacuum, "_vacuum", vacuumed)
    monkeypatch.setattr(engine, "_lock", locked)
    return events


def test_the_tables_the_move_rewrote_in_bulk_are_vacuumed_before_the_transaction(
    toy, settings, monkeypatch
):
    # The toy move updates or deletes 12 rows of books, 4 of shelves, 1 owner.
    settings.LEDGER_REVERT_VACUUM_MIN_ROWS = 5
    events = _watch(monkeypatch)
    before = dump()
    rec = reorganise(toy)
    counts = _vacuum_counts()
    phases: list[str] = []
    report = ledger.revert(
        rec.move_id, execute=True, reason="undo", operator="8", on_phase=phases.append
    )
    assert report.ok
    assert dump() == before
    assert events == ["vacuumed toyapp_book", "vacuumed toyapp_book_tags", "lock"]
    assert phases[:3] == ["installing capture", "vacuuming the move's tables", "locking"]
    after = _vacuum_counts()
    assert after["toyapp_book"] == counts["toyapp_book"] + 1
    assert after["toyapp_shelf"] == counts["toyapp_shelf"]
    assert after["toyapp_owner"] == counts["toyapp_owner"]


def test_a_dry_run_vacuums_too_and_none_turns_it_off(toy, settings, monkeypatch):
    settings.LEDGER_REVERT_VACUUM_MIN_ROWS = 5
    events = _watch(monkeypatch)
    rec = reorganise(toy)
    moved = dump()
    assert ledger.revert(rec.move_id, execute=False).ok
    assert dump() == moved
    assert events == ["vacuumed toyapp_book", "vacuumed toyapp_book_tags", "lock"]
    settings.LEDGER_REVERT_VACUUM_MIN_ROWS = None
    events.clear()
    assert undo(rec.move_id).ok
    assert events == ["lock"]


def test_a_table_whose_vacuum_fails_is_left_to_the_replay_and_the_others_are_vacuumed(
    toy, settings, monkeypatch, caplog
):
    settings.LEDGER_REVERT_VACUUM_MIN_ROWS = 5
    events = _watch(monkeypatch)
    watched = vacuum._vacuum

    def cancelled(table, using):
        if table == "toyapp_book":
            raise OperationalError("canceling statement due to statement timeout")
        watched(table, using)

    monkeypatch.setattr(vacuum, "_vacuum", cancelled)
    before = dump()
    rec = reorganise(toy)
    assert undo(rec.move_id).ok
    assert dump() == before
    assert events == ["vacuumed toyapp_book_tags", "lock"]
    assert (
        f"vacuuming toyapp_book before the revert of move {rec.move_id} failed "
        "(OperationalError): reverting anyway"
    ) in caplog.text


def test_a_role_that_does_not_own_the_tables_is_told_so_and_nothing_fails(toy, settings):
    rec = reorganise(toy)
    role = f"ledger_vacuum_app_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN NOSUPERUSER")
        cursor.execute(f"GRANT SELECT ON ledger_change TO {role}")
    counts = _vacuum_counts()
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {role}")
        assert vacuum.vacuum(rec.move_id, ["toyapp_book"], "default") == ["toyapp_book"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
    assert _vacuum_counts()["toyapp_book"] == counts["toyapp_book"]


def test_inside_a_transaction_nothing_is_vacuumed(toy, settings, monkeypatch):
    from django.db import transaction

    settings.LEDGER_REVERT_VACUUM_MIN_ROWS = 1
    events = _watch(monkeypatch)
    before = dump()
    rec = reorganise(toy)
    with transaction.atomic():
        assert undo(rec.move_id).ok
    assert dump() == before
    assert events == ["lock"]
