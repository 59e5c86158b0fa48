"""``ledger.replay.joins``: nested loops off only where the move's keys are a large part of
a table, set back as found after the block, and left to the rollback after an error."""

from __future__ import annotations

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from ledger.replay import joins
from tests.ledger.toyworld import dump, reorganise, undo


@pytest.fixture
def tiny_tables_count(monkeypatch):
    """The toy tables hold a few rows: let a few be a large part of them."""
    monkeypatch.setattr(joins, "FEW", 1)


def _settings() -> tuple[str, str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('enable_nestloop'), current_setting('jit'), "
            "current_setting('work_mem')"
        )
        return cursor.fetchone()


def _analysed_rows(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
        return cursor.fetchone()[0]


def test_a_large_part_of_a_table_is_hashed_and_the_settings_set_back(toy, tiny_tables_count):
    rows = _analysed_rows("toyapp_book")
    assert rows > 0
    before = _settings()
    with (
        connection.cursor() as cursor,
        joins.hashed_where_large(cursor, "toyapp_book", rows) as on,
    ):
        assert on
        assert _settings()[:2] == ("off", "off")
    assert _settings() == before


@pytest.mark.parametrize(
    ("session", "rows", "inside"),
    [
        ("4MB", 100_000, "12501kB"),  # 128 bytes a key: their hash fits in memory
        ("4MB", 10_000_000_000, "256MB"),  # never more than the cap
        ("1GB", 100_000, "1GB"),  # never less than the session had
    ],
)
def test_the_hash_of_the_keys_is_given_the_memory_it_needs(
    toy, tiny_tables_count, session, rows, inside
):
    _analysed_rows("toyapp_book")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [session])
        with joins.hashed_where_large(cursor, "toyapp_book", rows) as on:
            assert on
            assert _settings()[2] == inside
        assert _settings()[2] == session


@pytest.mark.parametrize("part", [0.0, 0.2])
def test_a_small_part_of_a_table_changes_nothing(toy, tiny_tables_count, part):
    rows = _analysed_rows("toyapp_book")
    before = _settings()
    with (
        connection.cursor() as cursor,
        joins.hashed_where_large(cursor, "toyapp_book", int(rows * part)) as on,
    ):
        assert not on
        assert _settings() == before


def test_a_table_never_analysed_changes_nothing(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE ledger_t_fresh (id bigint PRIMARY KEY)")
        before = _settings()
        with joins.hashed_where_large(cursor, "ledger_t_fresh", 1_000_000) as on:
            assert not on
            assert _settings() == before


def test_an_error_in_the_block_is_the_one_raised_and_its_rollback_sets_them_back(
    toy, tiny_tables_count
):
    rows = _analysed_rows("toyapp_book")
    before = _settings()
    with pytest.raises(DataError, match="division by zero"), transaction.atomic():  # noqa: SIM117
        with (
            connection.cursor() as cursor,
            joins.hashed_where_large(cursor, "toyapp_book", rows),
        ):
            cursor.execute("SELECT 1 / 0")
    assert _settings() == before


def test_a_few_rows_are_probed_without_looking_the_table_up(toy):
    rows = _analysed_rows("toyapp_book")
    assert 0 < rows < joins.FEW
    with (
        CaptureQueriesContext(connection) as queries,
        connection.cursor() as cursor,
        joins.hashed_where_large(cursor, "toyapp_book", rows) as on,
    ):
        assert not on
    assert len(queries) == 0


def test_a_revert_of_most_of_a_table_hashes_it_and_restores_every_row(
    toy, tiny_tables_count, monkeypatch
):
    applied: list[tuple[str, bool]] = []
    real = joins.hashed_where_large

    def spy(cursor, table, rows):
        context = real(cursor, table, rows)

        class Spied:
            def __enter__(self):
                on = context.__enter__()
                applied.append((table, on))
                return on

            def __exit__(self, *exc):
                return context.__exit__(*exc)

        return Spied()

    monkeypatch.setattr(joins, "hashed_where_large", spy)
    before = dump()
    rec = reorganise(toy)
    for table in ("toyapp_book", "toyapp_shelf", "toyapp_owner"):
        _analysed_rows(table)
    settings = _settings()
    assert undo(rec.move_id).ok
    assert dump() == before
    assert ("toyapp_book", True) in applied
    assert _settings() == settings
