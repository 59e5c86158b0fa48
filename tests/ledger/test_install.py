"""Capture installed just in time and released, and checked at seal time to have held."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

import ledger
from ledger import install
from ledger.capture import TRIGGER_NAMES
from tests.ledger import builders


def _triggers_seen_by_another_session(table: str) -> int:
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(%s) "
                "AND tgname = ANY(%s)",
                [table, list(TRIGGER_NAMES)],
            )
            return cursor.fetchone()[0]
    finally:
        other.close()


@pytest.mark.django_db(transaction=True)
def test_capture_is_installed_in_its_own_transaction_and_released_after_commit(
    committed_tables,
):
    builders.seed()
    install.release_capture()
    assert _triggers_seen_by_another_session("ledger_t_child") == 0
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as rec:
        # Committed by the install connection: the move's transaction holds no DDL lock.
        assert _triggers_seen_by_another_session("ledger_t_child") == len(TRIGGER_NAMES)
        builders.execute("UPDATE ledger_t_child SET name = 'in' WHERE id = 1")
    assert rec.entry_count == 1
    assert _triggers_seen_by_another_session("ledger_t_child") == 0  # released on commit


def _compiled_capture_copies() -> int:
    """Copies of the capture function PL/pgSQL holds compiled in this session."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_backend_memory_contexts "
            "WHERE name = 'PL/pgSQL function' AND ident = 'ledger_capture()'"
        )
        return cursor.fetchone()[0]


def _record_then_refuse() -> None:
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7"):
        builders.execute("UPDATE ledger_t_child SET name = 'no' WHERE id = 1")
        raise RuntimeError("refused")


@pytest.mark.django_db(transaction=True)
def test_a_session_keeps_no_compiled_capture_of_the_triggers_it_fired(committed_tables):
    # Each recording fires new triggers, and PL/pgSQL keeps a compiled copy per trigger for
    # the session's life: a session recording move after move would grow without end.
    builders.seed()
    for name in ("first", "second"):
        with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7"):
            builders.execute("UPDATE ledger_t_child SET name = %s WHERE id = 1", [name])
            assert _compiled_capture_copies() == 1
        assert _compiled_capture_copies() == 0
    # A recording rolled back (a dry run, a refusal): the commands release the capture.
    with pytest.raises(RuntimeError, match="refused"):
        _record_then_refuse()
    assert _compiled_capture_copies() == 1
    ledger.release_capture()
    assert _compiled_capture_copies() == 0


@pytest.mark.django_db(transaction=True)
def test_a_release_inside_a_transaction_leaves_its_session_open(committed_tables):
    builders.seed()
    with transaction.atomic():
        builders.execute("CREATE TEMP TABLE kept (id int) ON COMMIT DROP")
        ledger.release_capture()
        builders.execute("INSERT INTO kept VALUES (1)")  # the same session, the same transaction


@pytest.mark.django_db(transaction=True)
def test_a_table_the_transaction_wrote_first_gets_capture_inside_the_transaction(
    committed_tables,
):
    builders.seed()
    install.release_capture()
    with transaction.atomic():
        builders.execute("UPDATE ledger_t_parent SET name = 'before' WHERE id = 1")
        with ledger.recording(command="t", reason="r", operator="7") as rec:
            assert _triggers_seen_by_another_session("ledger_t_parent") == 0
            assert _triggers_seen_by_another_session("ledger_t_child") == len(TRIGGER_NAMES)
            builders.execute("UPDATE ledger_t_parent SET name = 'during' WHERE id = 2")
    assert [(e.pk, e.after) for e in ledger.entries(rec.move_id)] == [("2", {"name": "during"})]
    assert _triggers_seen_by_another_session("ledger_t_parent") == 0


@pytest.mark.django_db(transaction=True)
def test_a_release_never_drops_the_capture_of_a_running_recording(committed_tables):
    builders.seed()
    left: list[str] = []
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as rec:
        worker = threading.Thread(target=lambda: left.extend(install.release_capture()))
        worker.start()
        worker.join(10)
        assert "ledger_t_child" in left
        assert _triggers_seen_by_another_session("ledger_t_child") == len(TRIGGER_NAMES)
        builders.execute("UPDATE ledger_t_child SET name = 'still captured' WHERE id = 3")
    connections.close_all()
    assert [e.pk for e in ledger.entries(rec.move_id)] == ["3"]


def _installed_one_at_a_time(monkeypatch, first=lambda: None) -> list[str]:
    """The tables installed one at a time, with retries, rather than in the one round trip;
    ``first`` runs before the first of them."""
    retried: list[str] = []
    one_at_a_time = install._install_outside

    def spy(side, capture):
        if not retried:
            first()
        retried.append(capture.spec.table)
        one_at_a_time(side, capture)

    monkeypatch.setattr(install, "_install_outside", spy)
    return retried


@pytest.mark.django_db(transaction=True)
def test_every_table_gets_its_capture_in_one_round_trip(committed_tables, monkeypatch):
    # A revert installs while its verification hashes in a thread: each round trip waited
    # for the GIL, and one per table took 0.28 s where one round trip takes 0.09 s.
    retried = _installed_one_at_a_time(monkeypatch)
    install.release_capture()
    ledger.prepare_capture()
    assert retried == []
    for table in builders.TABLES:
        assert _triggers_seen_by_another_session(table) == len(TRIGGER_NAMES)


@pytest.mark.django_db(transaction=True)
def test_a_table_kept_busy_is_retried_and_the_tables_after_it_still_get_capture(
    committed_tables, monkeypatch
):
    writer = connection.copy()
    # The busy table's writer commits once the round trip has given up on it.
    retried = _installed_one_at_a_time(monkeypatch, first=writer.commit)
    install.release_capture()
    writer.set_autocommit(False)
    with writer.cursor() as cursor:  # as an open write would: CREATE TRIGGER waits for it
        cursor.execute("LOCK TABLE ledger_t_link IN ROW EXCLUSIVE MODE")
    try:
        ledger.prepare_capture()
    finally:
        writer.close()
    # Installed in name order: the table before the busy one was committed by the round trip,
    # the busy one and every table after it were installed one at a time.
    tables = sorted(spec.table for spec in ledger.registered_tables())
    assert retried == tables[tables.index("ledger_t_link") :]
    for table in builders.TABLES:
        assert _triggers_seen_by_another_session(table) == len(TRIGGER_NAMES)


@pytest.mark.django_db(transaction=True)
def test_capture_installed_before_a_column_was_added_is_replaced(committed_tables):
    builders.seed()
    ledger.prepare_capture()
    builders.execute("ALTER TABLE ledger_t_parent ADD COLUMN colour text")
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as rec:
        builders.execute("UPDATE ledger_t_parent SET colour = 'red' WHERE id = 1")
    assert [e.after for e in ledger.entries(rec.move_id)] == [{"colour": "red"}]


def test_nothing_registered_refuses_to_record(db, monkeypatch):
    monkeypatch.setattr("ledger.context.registered_tables", lambda: ())
    with (
        pytest.raises(ledger.NotRecording, match="no table is registered for capture"),
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7"),
    ):
        pass  # pragma: no cover


def _record(*statements: str) -> None:
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        rec.step("[s]"),
    ):
        for statement in statements:
            builders.execute(statement)


@pytest.mark.parametrize(
    ("tamper", "what"),
    [
        (
            ["ALTER TABLE ledger_t_child DISABLE TRIGGER ledger_capture_u"],
            "a capture trigger was dropped or disabled",
        ),
        (
            [
                "ALTER TABLE ledger_t_child DISABLE TRIGGER ledger_capture_u",
                "UPDATE ledger_t_child SET name = 'unseen'",
                "ALTER TABLE ledger_t_child ENABLE TRIGGER ledger_capture_u",
            ],
            "a capture trigger was disabled, dropped or replaced",
        ),
        (
            ["DROP TRIGGER ledger_capture_i ON ledger_t_child"],
            "a capture trigger was dropped or disabled",
        ),
        (
            ["ALTER TABLE ledger_t_child ALTER COLUMN score TYPE numeric USING score + 1"],
            "its columns were altered",
        ),
    ],
)
def test_capture_tampered_with_inside_a_recording_refuses_to_seal(seeded, tamper, what):
    before = builders.dump()
    with pytest.raises(ledger.CaptureBroken, match=rf"capture of ledger_t_child .*\({what}\)"):
        _record(*tamper)
    assert builders.dump() == before
    assert not ledger.models.Move.objects.exists()


def test_a_step_rolled_back_by_a_savepoint_counts_nothing_at_seal(seeded):
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as rec:
        savepoint = transaction.savepoint()
        with rec.step("[undone]") as step:
            builders.execute("UPDATE ledger_t_child SET name = 'undone' WHERE id = 1")
        transaction.savepoint_rollback(savepoint)
        assert step.captured_rows == 1
    assert [(s.label, s.captured_rows) for s in rec.steps] == [("[undone]", 0)]
    assert rec.entry_count == 0


def _undo_a_counted_step() -> None:
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as rec:
        savepoint = transaction.savepoint()
        with rec.step("[undone]", expected_rows=1):
            builders.execute("UPDATE ledger_t_child SET name = 'undone' WHERE id = 1")
        transaction.savepoint_rollback(savepoint)


def test_a_declared_count_undone_by_a_savepoint_refuses_to_seal(seeded):
    with pytest.raises(
        ledger.StepCountMismatch,
        match=r"\[undone\] expected 1 row changes but captured 0 when the recording was sealed",
    ):
        _undo_a_counted_step()
    assert not ledger.models.Move.objects.exists()


@pytest.mark.parametrize(
    ("column", "before", "after", "as_text"),
    [
        ("score", "1.0", "1.00", ("1.0", "1.00")),
        ("tags", """'{"a": 1.0}'""", """'{"a": 1.00}'""", ('{"a": 1.0}', '{"a": 1.00}')),
        ("ratio", "0", "'-0'", ("0", "-0")),
    ],
)
def test_a_change_equality_misses_is_captured_and_reverted_exactly(
    seeded, column, before, after, as_text
):
    builders.execute(f"UPDATE ledger_t_child SET {column} = {before} WHERE id = 1")
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as rec:
        builders.execute(f"UPDATE ledger_t_child SET {column} = {after} WHERE id = 1")
    assert rec.entry_count == 1
    ledger.revert(rec.move_id, execute=True, reason="undo", operator="7")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column}::text FROM ledger_t_child WHERE id = 1")
        assert cursor.fetchone()[0] == as_text[0]
