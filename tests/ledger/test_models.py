"""Immutability: the database refuses UPDATE, DELETE and TRUNCATE on every ledger table."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.db.utils import DatabaseError

import ledger
from ledger.models import Change, Move, Step

PROTECT = "ledger: {} is append-only, (UPDATE|DELETE) is refused"
FORBIDDEN = {
    "ledger_move": [
        (
            "UPDATE ledger_move SET reason = 'edited'",
            PROTECT.format("ledger_move"),
        ),
        ("DELETE FROM ledger_move", PROTECT.format("ledger_move")),
        ("TRUNCATE ledger_move CASCADE", "ledger_move is append-only, TRUNCATE is refused"),
    ],
    "ledger_step": [
        (
            "UPDATE ledger_step SET captured_rows = 0",
            PROTECT.format("ledger_step"),
        ),
        ("DELETE FROM ledger_step", PROTECT.format("ledger_step")),
        ("TRUNCATE ledger_step CASCADE", "is append-only, TRUNCATE is refused"),
    ],
    "ledger_change": [
        (
            "UPDATE ledger_change SET op = 'I'",
            PROTECT.format("ledger_change"),
        ),
        ("DELETE FROM ledger_change", PROTECT.format("ledger_change")),
        (
            "TRUNCATE ledger_change",
            "ledger_change is append-only, TRUNCATE is refused|cannot truncate a table referenced",
        ),
    ],
    "ledger_entry": [
        ("UPDATE ledger_entry SET op = 'I'", "cannot update view"),
        ("DELETE FROM ledger_entry", "cannot delete from view"),
        ("TRUNCATE ledger_entry", "is not a table"),
    ],
}
CASES = [(table, sql, message) for table, rows in FORBIDDEN.items() for sql, message in rows]


@pytest.fixture
def recorded(seeded):
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        rec.step("[s]"),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_t_child SET name = 'n'")
    return rec


@pytest.mark.parametrize(("table", "statement", "message"), CASES)
def test_raw_sql_cannot_change_the_ledger(recorded, app_role, table, statement, message):
    with connection.cursor() as cursor:
        # Run the deferred FK checks of the seal now, as a later transaction would see it.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with (
        app_role(grant_writes=True),
        pytest.raises(DatabaseError, match=message),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")
        assert cursor.fetchone()[0] > 0


@pytest.mark.parametrize("model", [Move, Step, Change])
def test_the_orm_cannot_change_the_ledger_even_as_its_owner(recorded, model):
    with pytest.raises(DatabaseError, match="append-only, UPDATE"), transaction.atomic():
        model.objects.update(id=F("id"))
    with pytest.raises(DatabaseError, match="append-only, DELETE"), transaction.atomic():
        model.objects.all()._raw_delete(using="default")  # no Python-side PROTECT check


def test_a_sealed_header_holds_its_counts_and_links(recorded):
    move = Move.objects.get(pk=recorded.move_id)
    assert move.digest == recorded.digest
    assert move.entry_count == 10
    assert move.prev_digest is None
    assert move.steps.get().captured_rows == 10
    assert move.tables["ledger_t_child"]["columns"]["parent_id"] == "bigint"
    assert move.schema_fingerprint.startswith("sha256:")


def test_the_capture_function_is_the_current_version(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT proconfig FROM pg_proc WHERE proname = 'ledger_capture'")
        (config,) = cursor.fetchone()
    assert set(config) == {"jit=off", "work_mem=128MB", "enable_mergejoin=off", "enable_sort=off"}
