"""Fixtures of the reviewer pages' tests: a move on the ledger's test tables and its revert."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

import ledger


@pytest.fixture
def reviewed(seeded):
    """Move 1 (two steps, a stray write, an insert and a delete) and move 2, its revert."""
    arguments = {"source_project": 3, "target_project": 9, "deployment_ids": [4, 5]}
    with (
        transaction.atomic(),
        ledger.recording(
            command="move_project_data",
            arguments=arguments,
            reason="TICKET-12: stations filed under the wrong project",
            operator="42",
        ) as move,
        connection.cursor() as cursor,
    ):
        with move.step("[move-children]", expected_rows=7, action="update"):
            cursor.execute(
                "UPDATE ledger_t_child SET parent_id = (SELECT max(id) FROM ledger_t_parent) "
                "WHERE parent_id <> (SELECT max(id) FROM ledger_t_parent)"
            )
        with move.step("[notes]", expected_rows=2, action="insert, delete"):
            cursor.execute("INSERT INTO ledger_t_note (code, body) VALUES ('n-new', 'fresh')")
            cursor.execute(
                "DELETE FROM ledger_t_note "
                "WHERE code = (SELECT min(code) FROM ledger_t_note WHERE code <> 'n-new')"
            )
        cursor.execute("UPDATE ledger_t_parent SET name = 'stray' WHERE name = 'p1'")
    with (
        transaction.atomic(),
        ledger.recording(
            kind="revert",
            reverts=move.move_id,
            command="revert_move",
            reason="undo",
            operator="43",
        ) as revert,
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_t_parent SET name = 'p1' WHERE name = 'stray'")
    return move, revert
