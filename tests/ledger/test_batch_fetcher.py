"""``ledger.dbapi.batch_fetcher``: the batches of a server-side cursor, as ``fetchmany`` gives
them, on either driver (psycopg 3 fetches them through libpq itself); an error is Django's."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from ledger.dbapi import batch_fetcher

# Values of several types, a NULL among them, as the drivers load them.
QUERY = """
SELECT g, 'row ' || g, CASE WHEN g %% 2 = 0 THEN g END, jsonb_build_object('g', g)::text,
    date '2026-11-30' + g, 1.50 * g
FROM generate_series(1, %s) g ORDER BY g
"""


def _batches(fetch) -> list[list[tuple]]:
    batches = []
    while batch := fetch():
        batches.append([tuple(row) for row in batch])
    return batches


@pytest.mark.django_db
@pytest.mark.parametrize(("rows", "size"), [(0, 2), (5, 2), (6, 3), (4, 10)])
def test_the_batches_are_those_fetchmany_gives(rows, size):
    with transaction.atomic():
        with connection.chunked_cursor() as cursor:
            cursor.execute(QUERY, [rows])
            expected = _batches(lambda: cursor.fetchmany(size))
        with connection.chunked_cursor() as cursor:
            cursor.execute(QUERY, [rows])
            fetched = _batches(batch_fetcher(cursor, size))
    assert fetched == expected
    assert [len(batch) for batch in fetched] == [size] * (rows // size) + (
        [rows % size] if rows % size else []
    )


@pytest.mark.django_db
def test_an_error_is_raised_as_django_raises_it():
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(QUERY, [5])
        fetch = batch_fetcher(cursor, 2)
        assert len(fetch()) == 2
        with connection.cursor() as other:
            other.execute("SELECT name FROM pg_cursors")
            (name,) = other.fetchone()
            other.execute(f'CLOSE "{name}"')
        with pytest.raises(DatabaseError, match="does not exist"):
            fetch()
        transaction.set_rollback(True)
