"""The rows of ``ledger_change`` are stored as ``json`` (migration 0006): what ``jsonb`` held
before the migration verifies after it."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

import ledger
from tests.ledger import builders

pytestmark = pytest.mark.django_db(transaction=True)

QUIET = {"stdout": StringIO(), "stderr": StringIO(), "verbosity": 0}


def _stored_as() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'ledger_change'::regclass AND attname IN ('before', 'after')"
        )
        return {kind for (kind,) in cursor.fetchall()}


# Numbers of every kind, nested JSON, a secret, and a deleted row (all its columns recorded).
CHANGES = (
    "UPDATE ledger_t_child SET ratio = -0.0, score = 1.10000000000000000002, "
    "tags = '{\"b\": [1, 2.50], \"a\": null}', secret = 's3cret' WHERE id <= 3",
    "UPDATE ledger_t_child SET name = 'é \"q\" \\n' WHERE id = 4",
    "DELETE FROM ledger_t_note",
    "INSERT INTO ledger_t_parent (name) VALUES ('z')",
)


def test_moves_verify_once_their_rows_are_stored_as_jsonb_and_again_as_json(committed_tables):
    # This code records only on a ledger migrated to its last migration: moves are sealed
    # first, their rows made jsonb (the migration rolled back) and json again, as the rows
    # sealed before the migration are.
    builders.seed()
    for statement in CHANGES:
        builders.record(statement)
    assert _stored_as() == {"json"}
    assert ledger.verify().ok
    call_command("migrate", "ledger", "0005", **QUIET)
    try:
        assert _stored_as() == {"jsonb"}
    finally:
        call_command("migrate", "ledger", **QUIET)
    assert _stored_as() == {"json"}
    report = ledger.verify()
    assert report.ok, report
    assert (report.moves_checked, report.entries_checked) == (4, 15)
