"""Run a move's changes backwards inside the revert's recording.

Units are (step, table, op) sets of change groups, replayed from the newest change to the
oldest; each is one set-based statement (one per change group only where a row appears in
several groups of the same unit, so that their order is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger.dbapi import sql
from ledger.replay import joins, statements
from ledger.replay.shapes import TableShape

if TYPE_CHECKING:
    from ledger.dbapi import Cursor, LedgerCursor

OUTSIDE_STEPS = "[outside-steps]"


@dataclass(frozen=True)
class Unit:
    """The change groups of one (step, table, op) of the replayed move."""

    step_id: int | None
    table: str
    op: str
    rows: int
    skipped: int
    last_change: int
    groups: int  # a row appears in two change groups only where there are two


def units(cursor: Cursor, move_id: int, tables: list[str]) -> list[Unit]:
    """Every unit of the move on ``tables``, newest first, with its rows and the rows skipped
    whole for drift (a row whose drifted cells only are left is still restored)."""
    cursor.execute(
        "SELECT c.step_id, c.table_name, c.op, sum(c.row_count), max(c.id), count(*), "
        "(SELECT count(*) FROM ledger_change c2 CROSS JOIN LATERAL unnest(c2.pks) AS u(pk) "
        " JOIN pg_temp.ledger_replay_skip s ON s.table_name = c2.table_name AND s.pk = u.pk "
        " AND s.col = '' "
        " WHERE c2.move_id = %(move)s AND c2.table_name = c.table_name AND c2.op = c.op "
        " AND c2.step_id IS NOT DISTINCT FROM c.step_id "
        " AND EXISTS (SELECT 1 FROM pg_temp.ledger_replay_skip)) "
        "FROM ledger_change c WHERE c.move_id = %(move)s AND c.table_name = ANY(%(tables)s) "
        "GROUP BY c.step_id, c.table_name, c.op ORDER BY max(c.id) DESC",
        {"move": move_id, "tables": tables},
    )
    return [
        Unit(step_id=s, table=t, op=o, rows=r, skipped=k, last_change=m, groups=g)
        for s, t, o, r, m, g, k in cursor.fetchall()
    ]


def run_unit(cursor: LedgerCursor, move_id: int, unit: Unit, shape: TableShape) -> int:
    """Replay one unit backwards. Returns the rows it changed."""
    params = {"move": move_id, "table": unit.table, "step": unit.step_id, "change": None}
    if unit.op == "I":
        cursor.execute(statements.delete_inserts(shape), params)
        return _rowcount(cursor)
    if unit.op == "D":
        cursor.execute(statements.reinsert_deletes(shape), params)
        return _rowcount(cursor)
    columns = _changed_columns(cursor, params, shape)
    if not columns:
        return 0
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_skip WHERE table_name = %(table)s)",
        params,
    )
    query = statements.restore_updates(shape, columns, skips=cursor.fetchone()[0])
    if unit.groups == 1 or not _rows_repeat(cursor, params):
        with joins.hashed_where_large(cursor, unit.table, unit.rows):
            cursor.execute(query, params)
            return _rowcount(cursor)
    cursor.execute(
        "SELECT id FROM ledger_change c WHERE c.move_id = %(move)s AND c.table_name = %(table)s "
        "AND c.op = 'U' AND c.step_id IS NOT DISTINCT FROM %(step)s ORDER BY id DESC",
        params,
    )
    total = 0
    for (change_id,) in cursor.fetchall():
        cursor.execute(query, {**params, "change": change_id})
        total += _rowcount(cursor)
    return total


def _changed_columns(cursor: Cursor, params: dict[str, object], shape: TableShape) -> list[str]:
    cursor.execute(
        "SELECT DISTINCT k.key FROM ledger_change c "
        "CROSS JOIN LATERAL json_object_keys(c.after) AS k(key) "
        "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'U' "
        "AND c.step_id IS NOT DISTINCT FROM %(step)s ORDER BY 1",
        params,
    )
    return [k for (k,) in cursor.fetchall() if k in shape.columns and k not in shape.secret]


def _rows_repeat(cursor: Cursor, params: dict[str, object]) -> bool:
    """Whether a row appears in two change groups of the unit (its changes must keep order)."""
    cursor.execute(
        sql.SQL(
            "SELECT EXISTS (SELECT 1 FROM ledger_change c "
            "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) "
            "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'U' "
            "AND c.step_id IS NOT DISTINCT FROM %(step)s GROUP BY u.pk HAVING count(*) > 1)"
        ),
        params,
    )
    return bool(cursor.fetchone()[0])


def _rowcount(cursor: LedgerCursor) -> int:
    """The rows the cursor's last statement changed."""
    rows: int = cursor.rowcount
    return rows
