"""After a replay: every row the move touched holds its before-values again (set-based).

Derived and bookkeeping columns are not compared, nor the rows and cells the replay left as
they were (``ledger_replay_skip``: col "" for a whole row, else the column).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.dbapi import sql
from ledger.replay import joins
from ledger.replay.scan import SAMPLE, _case_equal
from ledger.replay.shapes import TableShape
from ledger.replay.structs import Conflict

if TYPE_CHECKING:
    from ledger.dbapi import Cursor

_NOT_SKIPPED = (
    "NOT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_skip s "
    "WHERE s.table_name = %(table)s AND s.pk = {pk} AND s.col = '')"
)
_CELL_NOT_SKIPPED = (
    "NOT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_skip s "
    "WHERE s.table_name = %(table)s AND s.pk = {pk} AND s.col IN ('', {col}))"
)
_NOT_INSERTED = (
    "NOT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_keys i "
    "WHERE i.table_name = %(table)s AND i.op = 'I' AND i.pk = {pk})"
)


def _fetch(
    cursor: Cursor, query: sql.Composable, params: dict[str, object]
) -> tuple[int, tuple[str, ...]]:
    cursor.execute(query, {**params, "n": SAMPLE})
    count, sample = cursor.fetchone()
    return count, tuple(sample or ())


def _maybe_updated_rows(
    cursor: Cursor,
    move_id: int,
    shape: TableShape,
    columns: list[str],
    inserted: bool,
    rows: int,
) -> bool:
    """Whether any row an update of the move touched may differ from its before-values: each
    update group's rows compared with its own before-values, one typed comparison per row,
    ``columns`` guarded by whether the group recorded them (decided once per group).

    Every row the exact check below finds is found here too (a row's first change is one of
    its changes), and more: a row in several updates of a column, against a later one's
    before-value. Without the exact check's sort per (row, column), it costs a fraction of
    it: a revert that restored everything reads only this.
    """
    if not columns:
        return False
    t, pk = shape.ident, sql.Identifier(shape.pk)
    # Per group, once: whether it recorded each column, and its typed before-value.
    recorded = [
        sql.SQL("(c.before -> {}) IS NOT NULL AS {}, (b).{} AS {}").format(
            sql.Literal(col),
            sql.Identifier(f"has_{i}"),
            sql.Identifier(col),
            sql.Identifier(f"before_{i}"),
        )
        for i, col in enumerate(columns)
    ]
    held = [
        sql.SQL("(NOT g.{} OR {})").format(
            sql.Identifier(f"has_{i}"),
            shape.equal(
                sql.SQL("t.{}").format(sql.Identifier(col)),
                sql.SQL("g.{}").format(sql.Identifier(f"before_{i}")),
                col,
                sql.SQL("g.before"),
            ),
        )
        for i, col in enumerate(columns)
    ]
    not_inserted = (
        sql.SQL(" AND ") + sql.SQL(_NOT_INSERTED).format(pk=sql.SQL("u.pk"))
        if inserted
        else sql.SQL("")
    )
    query = sql.SQL(
        "WITH g AS MATERIALIZED (SELECT c.pks, c.before, {recorded} FROM ledger_change c "
        "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.before) AS b "
        "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'U') "
        "SELECT EXISTS (SELECT 1 FROM g CROSS JOIN LATERAL unnest(g.pks) AS u(pk) "
        "LEFT JOIN {t} AS t ON t.{pk} = u.pk::{pktype} "
        "WHERE (t.{pk} IS NULL OR NOT ({held})){not_inserted})"
    ).format(
        recorded=sql.SQL(", ").join(recorded),
        t=t,
        pk=pk,
        pktype=shape.pk_type,
        held=sql.SQL(" AND ").join(held),
        not_inserted=not_inserted,
    )
    with joins.hashed_where_large(cursor, shape.table, rows):
        cursor.execute(query, {"move": move_id, "table": shape.table})
        return bool(cursor.fetchone()[0])


def _skipped_any(cursor: Cursor, table: str) -> bool:
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_skip WHERE table_name = %s)", [table]
    )
    return bool(cursor.fetchone()[0])


def _updated_rows(
    cursor: Cursor,
    move_id: int,
    shape: TableShape,
    updated: set[str],
    inserted: bool,
    rows: int,
) -> tuple[int, tuple[str, ...]]:
    """Updated rows whose columns differ from the value before the move's first change:
    read exactly only where the screen (``_maybe_updated_rows``) finds any."""
    columns = [c for c in shape.compared() if c in updated]
    if not _skipped_any(cursor, shape.table) and not _maybe_updated_rows(
        cursor, move_id, shape, columns, inserted, rows
    ):
        return 0, ()
    return _updated_rows_exactly(cursor, move_id, shape)


def _updated_rows_exactly(
    cursor: Cursor, move_id: int, shape: TableShape
) -> tuple[int, tuple[str, ...]]:
    """Per (row, column), the value before the move's first change of it, against the row."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    query = sql.SQL(
        "SELECT count(DISTINCT f.pk), (array_agg(DISTINCT f.pk))[1:%(n)s] FROM ("
        "SELECT DISTINCT ON (u.pk, k.key) u.pk, k.key, c.before, b FROM ledger_change c "
        "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.before) AS b "
        "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) "
        "CROSS JOIN LATERAL json_object_keys(c.before) AS k(key) "
        "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'U' "
        "AND NOT k.key = ANY(%(soft)s) ORDER BY u.pk, k.key, c.id) AS f "
        "LEFT JOIN {t} AS t ON t.{pk} = f.pk::{pktype} "
        "WHERE {not_skipped} AND {not_inserted} AND (t.{pk} IS NULL OR NOT ({equal}))"
    ).format(
        t=t,
        pk=pk,
        pktype=shape.pk_type,
        not_skipped=sql.SQL(_CELL_NOT_SKIPPED).format(pk=sql.SQL("f.pk"), col=sql.SQL("f.key")),
        not_inserted=sql.SQL(_NOT_INSERTED).format(pk=sql.SQL("f.pk")),
        equal=_case_equal(shape, shape.compared(), sql.SQL("f.key"), "b", "f.before"),
    )
    return _fetch(
        cursor, query, {"move": move_id, "table": shape.table, "soft": sorted(shape.soft)}
    )


def _inserted_rows(cursor: Cursor, move_id: int, shape: TableShape) -> tuple[int, tuple[str, ...]]:
    """Rows the move inserted that still exist."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    query = sql.SQL(
        "SELECT count(*), (array_agg(u.pk))[1:%(n)s] FROM ledger_change c "
        "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) JOIN {t} AS t ON t.{pk} = u.pk::{pktype} "
        "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'I' "
        "AND {not_skipped}"
    ).format(
        t=t,
        pk=pk,
        pktype=shape.pk_type,
        not_skipped=sql.SQL(_NOT_SKIPPED).format(pk=sql.SQL("u.pk")),
    )
    return _fetch(cursor, query, {"move": move_id, "table": shape.table})


def _deleted_rows(
    cursor: Cursor, move_id: int, shape: TableShape, updated: set[str]
) -> tuple[int, tuple[str, ...]]:
    """Rows the move deleted (and had not inserted) that are missing or differ."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    columns = [c for c in shape.compared() if c not in updated]
    equal = shape.all_equal(columns, "r", "c.before")
    query = sql.SQL(
        "SELECT count(*), (array_agg(u.pk))[1:%(n)s] FROM ledger_change c "
        "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.before) AS r "
        "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) "
        "LEFT JOIN {t} AS t ON t.{pk} = u.pk::{pktype} "
        "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'D' "
        "AND {not_skipped} AND {not_inserted} AND (t.{pk} IS NULL OR NOT ({equal}))"
    ).format(
        t=t,
        pk=pk,
        pktype=shape.pk_type,
        not_skipped=sql.SQL(_NOT_SKIPPED).format(pk=sql.SQL("u.pk")),
        not_inserted=sql.SQL(_NOT_INSERTED).format(pk=sql.SQL("u.pk")),
        equal=equal,
    )
    return _fetch(cursor, query, {"move": move_id, "table": shape.table})


def not_restored(
    cursor: Cursor,
    move_id: int,
    shapes: dict[str, TableShape],
    updated: dict[str, set[str]],
    ops: dict[str, dict[str, int]],
) -> list[Conflict]:
    """Every row the move touched that does not hold its before-values after the replay.

    Args:
        ops: per table, the rows the move changed per operation ("U", "I", "D").
    """
    conflicts = []
    for table, shape in sorted(shapes.items()):
        found = []
        if "U" in ops.get(table, ()):
            found.append(
                (
                    "updated",
                    _updated_rows(
                        cursor,
                        move_id,
                        shape,
                        updated.get(table, set()),
                        "I" in ops[table],
                        ops[table]["U"],
                    ),
                )
            )
        if "I" in ops.get(table, ()):
            found.append(("inserted", _inserted_rows(cursor, move_id, shape)))
        if "D" in ops.get(table, ()):
            found.append(
                ("deleted", _deleted_rows(cursor, move_id, shape, updated.get(table, set())))
            )
        for what, (count, sample) in found:
            if count:
                conflicts.append(
                    Conflict(
                        kind="not-restored",
                        table=table,
                        count=count,
                        sample=sample,
                        message=f"{count} row(s) of {table} that the move {what} do not hold "
                        "their before-values after the replay",
                    )
                )
    return conflicts
