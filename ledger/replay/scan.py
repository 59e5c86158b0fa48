"""Read-only scans of a move against the live data: the work a replay would do, and conflicts.

Drift is found per column: the transaction's temp table ``ledger_replay_drift`` gets one row
per (table, pk, column) that no longer holds what the move left in it (column "" for a whole
row: deleted since, its key taken again, a unique key clash), set-based, so a replay that
skips them never holds their keys in Python. ``skips`` turns it into ``ledger_replay_skip``:
the cells the replay leaves as they are, and the rows it leaves whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ledger.capture import live_columns
from ledger.dbapi import sql
from ledger.replay.shapes import TableShape
from ledger.replay.structs import Conflict, StepWork, TableWork

if TYPE_CHECKING:
    from ledger.dbapi import Cursor

SAMPLE = 5

# ``ledger_replay_keys`` holds the keys the replayed move inserted and deleted, one row per
# entry, analysed: every "is this row one the move created or deleted?" test joins it, so the
# planner sees its real size and hashes (a correlated unnest of ledger_change went quadratic on
# a move of 146k single-row groups, whose fresh rows had no statistics yet). The keys it
# updated, the bulk of a move, are added only where a test needs them (``load_update_keys``):
# later moves to compare with, or cells the replay leaves as they are. Domain hooks may read
# it too, and call ``load_update_keys`` first for the updated rows.
TEMP_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS ledger_replay_keys (
    table_name text NOT NULL, op text NOT NULL, pk text NOT NULL, change_id bigint NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS ledger_replay_drift (
    table_name text NOT NULL, pk text NOT NULL, col text NOT NULL, why text NOT NULL,
    after_value text, current_value text, key_columns text[], clash_pk text,
    later_move bigint
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS ledger_replay_skip (
    table_name text NOT NULL, pk text NOT NULL, col text NOT NULL,
    PRIMARY KEY (table_name, pk, col)
) ON COMMIT DROP;
TRUNCATE pg_temp.ledger_replay_keys, pg_temp.ledger_replay_drift, pg_temp.ledger_replay_skip;
INSERT INTO pg_temp.ledger_replay_keys
SELECT c.table_name, c.op, u.pk, c.id FROM ledger_change c
CROSS JOIN LATERAL unnest(c.pks) AS u(pk) WHERE c.move_id = %(move)s AND c.op <> 'U';
ANALYZE pg_temp.ledger_replay_keys;
"""

# Once per transaction: a move that updated no row inserts nothing, whenever it is run.
_UPDATE_KEYS = """
INSERT INTO pg_temp.ledger_replay_keys
SELECT c.table_name, c.op, u.pk, c.id FROM ledger_change c
CROSS JOIN LATERAL unnest(c.pks) AS u(pk) WHERE c.move_id = %(move)s AND c.op = 'U'
AND NOT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_keys WHERE op = 'U');
ANALYZE pg_temp.ledger_replay_keys;
"""


def load_update_keys(cursor: Cursor, move_id: int) -> None:
    """Add the keys the move updated to ``ledger_replay_keys`` (once per transaction)."""
    cursor.execute(_UPDATE_KEYS, {"move": move_id})


def work(
    cursor: Cursor, move_id: int, steps: dict[int, tuple[int, str]], tables: list[str]
) -> tuple[tuple[StepWork, ...], tuple[TableWork, ...]]:
    """Rows the replay restores, deletes and re-inserts, per step (reverse order) and table.

    Args:
        steps: step id -> (seq, label) of the replayed move.
        tables: the replayed tables (history tables are not).
    """
    cursor.execute(
        "SELECT step_id, table_name, op, sum(row_count) FROM ledger_change WHERE move_id = %s "
        "AND table_name = ANY(%s) GROUP BY step_id, table_name, op",
        [move_id, tables],
    )
    per_step: dict[int | None, int] = {}
    per_table: dict[str, dict[str, int]] = {}
    for step_id, table, op, rows in cursor.fetchall():
        per_step[step_id] = per_step.get(step_id, 0) + rows
        per_table.setdefault(table, {"U": 0, "I": 0, "D": 0})[op] += rows
    cursor.execute(
        "SELECT c.table_name, k.key, sum(c.row_count) FROM ledger_change c "
        "CROSS JOIN LATERAL json_object_keys(c.after) AS k(key) "
        "WHERE c.move_id = %s AND c.op = 'U' AND c.table_name = ANY(%s) "
        "GROUP BY c.table_name, k.key ORDER BY c.table_name, k.key",
        [move_id, tables],
    )
    columns: dict[str, dict[str, int]] = {}
    for table, column, rows in cursor.fetchall():
        columns.setdefault(table, {})[column] = rows
    step_work = tuple(
        StepWork(
            seq=steps[sid][0] if sid is not None else 0,
            label=steps[sid][1] if sid is not None else "(outside steps)",
            rows=rows,
        )
        for sid, rows in sorted(
            per_step.items(),
            key=lambda kv: steps[kv[0]][0] if kv[0] is not None else 0,
            reverse=True,
        )
    )
    table_work = tuple(
        TableWork(
            table=table,
            restore_rows=ops["U"],
            restore_columns=columns.get(table, {}),
            delete_rows=ops["I"],
            reinsert_rows=ops["D"],
        )
        for table, ops in sorted(per_table.items())
    )
    return step_work, table_work


def _case_equal(
    shape: TableShape, columns: Iterable[str], key: sql.Composable, record: str, recorded_json: str
) -> sql.Composable:
    """``CASE key WHEN 'c' THEN t.c = (record).c ... END``: the live value is the recorded one."""
    whens = [
        sql.SQL("WHEN {name} THEN {eq}").format(
            name=sql.Literal(col),
            eq=shape.equal(
                sql.SQL("t.{}").format(sql.Identifier(col)),
                sql.SQL("({}).{}").format(sql.Identifier(record), sql.Identifier(col)),
                col,
                sql.SQL(recorded_json),
            ),
        )
        for col in columns
    ]
    if not whens:
        return sql.SQL("TRUE")
    return sql.SQL("CASE {} {} ELSE TRUE END").format(key, sql.SQL(" ").join(whens))


# The move itself deleted the row after this change: what it left is checked as a delete
# (``find_reinsert_collisions``), not as drift (e.g. a revert that updates, then deletes, the
# project a move created).
_NOT_DELETED_LATER = sql.SQL(
    "NOT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_keys d "
    "WHERE d.table_name = %(table)s AND d.op = 'D' AND d.change_id > {id} AND d.pk = {pk})"
)


def _values(shape: TableShape, key: sql.Composable, recorded: str) -> sql.Composable:
    """``after_value, current_value`` of a drifted column as JSON text, both read through the
    column's type (the typed recorded row ``recorded``, the live row ``t``); secrets never
    shown."""
    return sql.SQL(
        "CASE WHEN {key} = ANY({secret}) THEN NULL ELSE (to_jsonb({recorded}) -> {key})::text "
        "END, "
        "CASE WHEN {key} = ANY({secret}) THEN NULL ELSE (to_jsonb(t) -> {key})::text END"
    ).format(
        key=key,
        secret=sql.Literal(sorted(shape.secret)),
        recorded=sql.SQL(recorded),
    )


def find_update_drift(cursor: Cursor, move_id: int, shape: TableShape) -> None:
    """Columns of rows the move updated that no longer hold the move's last after-value
    (derived and bookkeeping columns never drift), and rows deleted since."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    query = sql.SQL(
        "INSERT INTO pg_temp.ledger_replay_drift "
        "(table_name, pk, col, why, after_value, current_value) "
        "SELECT DISTINCT ON (last.pk, col) %(table)s, last.pk, "
        "CASE WHEN t.{pk} IS NULL THEN '' ELSE last.key END AS col, "
        "CASE WHEN t.{pk} IS NULL THEN 'deleted since' ELSE 'changed since' END, {values} "
        "FROM ("
        "SELECT DISTINCT ON (u.pk, k.key) u.pk, k.key, c.id, c.after, a FROM ledger_change c "
        "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.after) AS a "
        "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) "
        "CROSS JOIN LATERAL json_object_keys(c.after) AS k(key) "
        "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'U' "
        "AND NOT k.key = ANY(%(soft)s) ORDER BY u.pk, k.key, c.id DESC) AS last "
        "LEFT JOIN {t} AS t ON t.{pk} = last.pk::{pktype} "
        "WHERE (t.{pk} IS NULL OR NOT ({equal})) AND {not_deleted} "
        "ORDER BY last.pk, col"
    ).format(
        t=t,
        pk=pk,
        pktype=shape.pk_type,
        values=_values(shape, sql.SQL("last.key"), "last.a"),
        equal=_case_equal(shape, shape.compared(), sql.SQL("last.key"), "a", "last.after"),
        not_deleted=_NOT_DELETED_LATER.format(pk=sql.SQL("last.pk"), id=sql.SQL("last.id")),
    )
    cursor.execute(query, {"move": move_id, "table": shape.table, "soft": sorted(shape.soft)})


def find_insert_drift(cursor: Cursor, move_id: int, shape: TableShape, updated: set[str]) -> None:
    """Rows the move inserted that are gone, or whose columns changed since, one row per
    column (columns it updated too are covered by ``find_update_drift``)."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    columns = [c for c in shape.compared() if c not in updated]
    cursor.execute(
        sql.SQL(
            "INSERT INTO pg_temp.ledger_replay_drift "
            "(table_name, pk, col, why, after_value, current_value) "
            "SELECT %(table)s, u.pk, coalesce(k.key, ''), CASE WHEN t.{pk} IS NULL "
            "THEN 'deleted since' ELSE 'changed since' END, {values} FROM ledger_change c "
            "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.after) AS a "
            "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) "
            "LEFT JOIN {t} AS t ON t.{pk} = u.pk::{pktype} "
            "LEFT JOIN LATERAL unnest(%(columns)s::text[]) AS k(key) ON t.{pk} IS NOT NULL "
            "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'I' "
            "AND (t.{pk} IS NULL OR NOT ({equal})) AND {not_deleted}"
        ).format(
            t=t,
            pk=pk,
            pktype=shape.pk_type,
            values=_values(shape, sql.SQL("k.key"), "a"),
            equal=_case_equal(shape, columns, sql.SQL("k.key"), "a", "c.after"),
            not_deleted=_NOT_DELETED_LATER.format(pk=sql.SQL("u.pk"), id=sql.SQL("c.id")),
        ),
        {"move": move_id, "table": shape.table, "columns": columns},
    )


def find_reinsert_collisions(cursor: Cursor, move_id: int, shape: TableShape) -> None:
    """Rows the move deleted whose primary key is taken again."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    cursor.execute(
        sql.SQL(
            "INSERT INTO pg_temp.ledger_replay_drift (table_name, pk, col, why, later_move) "
            "SELECT %(table)s, u.pk, '', 'key taken again since', {later} FROM ledger_change c "
            "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) "
            "JOIN {t} AS t ON t.{pk} = u.pk::{pktype} "
            "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'D'"
        ).format(t=t, pk=pk, pktype=shape.pk_type, later=_later_writer(sql.SQL("u.pk"))),
        {"move": move_id, "table": shape.table},
    )


def _later_writer(pk: sql.Composable) -> sql.Composable:
    """The latest later move that inserted or updated the live row ``pk`` of %(table)s."""
    return sql.SQL(
        "(SELECT max(l.move_id) FROM ledger_change l WHERE l.table_name = %(table)s "
        "AND l.op IN ('I', 'U') AND l.move_id > %(move)s AND {pk} = ANY(l.pks))"
    ).format(pk=pk)


# Unique indexes of a table other than its primary key, with their columns in key order;
# expression and partial indexes are left to the replay's own unique-violation handling.
_UNIQUE_KEYS = """
SELECT c.relname, ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = to_regclass(quote_ident(%s)) AND i.indisunique AND NOT i.indisprimary
AND i.indexprs IS NULL AND i.indpred IS NULL ORDER BY c.relname
"""


def unique_keys(cursor: Cursor, table: str) -> list[tuple[str, list[str]]]:
    """The table's unique keys besides its primary key: (index name, columns)."""
    cursor.execute(_UNIQUE_KEYS, [table])
    return [(name, list(columns)) for name, columns in cursor.fetchall()]


def find_unique_clashes(cursor: Cursor, move_id: int, shape: TableShape) -> None:
    """Rows the move deleted that a replay would re-insert onto a unique key a live row holds
    now (a row the move itself inserted is deleted by the replay first: no clash)."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    for _name, columns in unique_keys(cursor, shape.table):
        if not columns or any(col not in shape.columns for col in columns):
            continue
        same = sql.SQL(" AND ").join(
            sql.SQL("t.{c} = (r).{c}").format(c=sql.Identifier(col)) for col in columns
        )
        cursor.execute(
            sql.SQL(
                "INSERT INTO pg_temp.ledger_replay_drift "
                "(table_name, pk, col, why, key_columns, clash_pk, later_move) "
                "SELECT %(table)s, (r).{pk}::text, '', 'unique', %(columns)s, t.{pk}::text, "
                "{later} FROM ledger_change c "
                "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.before) AS r "
                "JOIN {t} AS t ON {same} AND t.{pk} IS DISTINCT FROM (r).{pk} "
                "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'D' "
                "AND NOT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_keys k "
                "WHERE k.table_name = %(table)s AND k.op = 'I' AND k.pk = t.{pk}::text)"
            ).format(t=t, pk=pk, same=same, later=_later_writer(sql.SQL("t.{}::text").format(pk))),
            {"move": move_id, "table": shape.table, "columns": columns},
        )


def skips(cursor: Cursor, move_id: int, shapes: Iterable[TableShape]) -> None:
    """What a replay leaves as it is, from ``ledger_replay_drift``: drifted cells of rows it
    restores (col = column), and whole rows (col = ''): rows deleted since, whose key is
    taken, the move created (a created row is deleted whole or kept whole), or whose every
    column the move changed (but derived and bookkeeping ones) drifted."""
    cursor.execute(
        "INSERT INTO pg_temp.ledger_replay_skip (table_name, pk, col) "
        "SELECT DISTINCT d.table_name, d.pk, '' FROM pg_temp.ledger_replay_drift d "
        "WHERE d.col = '' OR EXISTS (SELECT 1 FROM pg_temp.ledger_replay_keys k "
        "WHERE k.table_name = d.table_name AND k.pk = d.pk AND k.op = 'I') "
        "ON CONFLICT DO NOTHING"
    )
    cursor.execute(
        "INSERT INTO pg_temp.ledger_replay_skip (table_name, pk, col) "
        "SELECT DISTINCT d.table_name, d.pk, d.col FROM pg_temp.ledger_replay_drift d "
        "WHERE d.col <> '' AND NOT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_skip s "
        "WHERE s.table_name = d.table_name AND s.pk = d.pk AND s.col = '') "
        "ON CONFLICT DO NOTHING"
    )
    cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_skip WHERE col <> '')")
    if not cursor.fetchone()[0]:
        return
    load_update_keys(cursor, move_id)
    for shape in shapes:
        cursor.execute(
            "INSERT INTO pg_temp.ledger_replay_skip (table_name, pk, col) "
            "SELECT DISTINCT s.table_name, s.pk, '' FROM pg_temp.ledger_replay_skip s "
            "WHERE s.table_name = %(table)s AND s.col <> '' AND NOT EXISTS ("
            "SELECT 1 FROM pg_temp.ledger_replay_keys kk "
            "JOIN ledger_change c ON c.id = kk.change_id "
            "CROSS JOIN LATERAL json_object_keys(c.after) AS k(key) "
            "WHERE kk.table_name = s.table_name AND kk.op = 'U' AND kk.pk = s.pk "
            "AND NOT k.key = ANY(%(soft)s) AND NOT EXISTS (SELECT 1 FROM "
            "pg_temp.ledger_replay_skip x WHERE x.table_name = s.table_name AND x.pk = s.pk "
            "AND x.col = k.key)) ON CONFLICT DO NOTHING",
            {"table": shape.table, "soft": sorted(shape.soft)},
        )


_DRIFT_SUMMARY = """
SELECT table_name, col, why, key_columns, count(*),
    (array_agg(pk ORDER BY length(pk), pk))[1:%(n)s],
    (array_agg(after_value ORDER BY length(pk), pk))[1],
    (array_agg(current_value ORDER BY length(pk), pk))[1],
    (array_agg(clash_pk ORDER BY length(pk), pk))[1:%(n)s],
    max(later_move)
FROM pg_temp.ledger_replay_drift
GROUP BY table_name, col, why, key_columns ORDER BY table_name, col, why
"""

_SKIP_HINT = "Fix or accept them, or pass --skip-drifted to leave them as they are"


def drift_conflicts(cursor: Cursor) -> list[Conflict]:
    """Summarise ``ledger_replay_drift`` per table, column and reason."""
    cursor.execute(_DRIFT_SUMMARY, {"n": SAMPLE})
    return [_drift_conflict(*row) for row in cursor.fetchall()]


def _drift_conflict(
    table: str,
    col: str,
    why: str,
    key_columns: list[str] | None,
    count: int,
    sample: list[str],
    after: str | None,
    current: str | None,
    clashes: list[str | None],
    later: int | None,
) -> Conflict:
    if why == "unique":
        assert key_columns is not None
        columns = tuple(key_columns)
        pairs = ", ".join(f"{a} with {b}" for a, b in zip(sample, clashes, strict=True))
        by = f", written by move {later}" if later else ""
        fix = f"revert move {later} first" if later else "remove or change the rows that hold it"
        return Conflict(
            kind="unique",
            table=table,
            count=count,
            sample=tuple(sample),
            columns=columns,
            later_move=later,
            message=f"{count} row(s) of {table} that the revert must re-insert would clash "
            f"on the unique key ({', '.join(columns)}) with row(s) created since "
            f"(row {pairs}{by}): {fix}, then run the revert again",
        )
    if why.startswith("key"):
        by = f" (by move {later})" if later else ""
        return Conflict(
            kind="reinsert",
            table=table,
            count=count,
            sample=tuple(sample),
            later_move=later,
            message=f"{count} row(s) of {table} key taken again since{by}: the revert would "
            f"overwrite later work. {_SKIP_HINT}",
            resolved_by="skip_drifted",
        )
    if not col:
        return Conflict(
            kind="drift",
            table=table,
            count=count,
            sample=tuple(sample),
            message=f"{count} row(s) of {table} {why}: the revert would overwrite later "
            f"work. {_SKIP_HINT}",
            resolved_by="skip_drifted",
        )
    values = (
        f" (the move left {after}, today {current})"
        if after is not None or current is not None
        else " (a secret: values not shown)"
    )
    return Conflict(
        kind="drift",
        table=table,
        count=count,
        sample=tuple(sample),
        column=col,
        after_value=after,
        current_value=current,
        message=f"{count} row(s) of {table} changed since in column {col}{values}: the "
        "revert would overwrite later work. Fix or accept them, or pass --skip-drifted to "
        "leave that column as it is (the rest of each row is restored)",
        resolved_by="skip_drifted",
    )


def secret_conflicts(cursor: Cursor, move_id: int, shape: TableShape) -> list[Conflict]:
    """Secrets the replay cannot restore: only fingerprints were recorded."""
    if not shape.secret:
        return []
    conflicts = []
    for col in sorted(shape.secret):
        cursor.execute(
            sql.SQL(
                "SELECT count(*), (array_agg(u.pk))[1:%(n)s] FROM ledger_change c "
                "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) "
                "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND ("
                "(c.op = 'U' AND (c.before -> %(col)s) IS NOT NULL) OR "
                "(c.op = 'D' AND c.before ->> %(col)s IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM {t} s WHERE "
                "ledger_fingerprint((s.{c})::text) = c.before ->> %(col)s)))"
            ).format(t=shape.ident, c=sql.Identifier(col)),
            {"n": SAMPLE, "move": move_id, "table": shape.table, "col": col},
        )
        count, sample = cursor.fetchone()
        if count:
            conflicts.append(
                Conflict(
                    kind="secret",
                    table=shape.table,
                    count=count,
                    sample=tuple(sample),
                    message=f"{shape.table}.{col} of {count} row(s) was recorded only as a "
                    "fingerprint and no live row holds that value: it cannot be restored",
                )
            )
    return conflicts


# Moves after this one that are not reverted.
_LATER_MOVES = (
    "SELECT m.id FROM ledger_move m WHERE m.id > %(move)s AND m.kind = 'move' "
    "AND NOT EXISTS (SELECT 1 FROM ledger_move r WHERE r.reverts_id = m.id)"
)


def later_move_conflicts(cursor: Cursor, move_id: int) -> list[Conflict]:
    """Rows of this move touched again by a later move that is not reverted."""
    cursor.execute(f"SELECT EXISTS ({_LATER_MOVES})", {"move": move_id})
    if not cursor.fetchone()[0]:
        return []
    load_update_keys(cursor, move_id)
    cursor.execute(
        "WITH mine AS (SELECT DISTINCT table_name, pk FROM pg_temp.ledger_replay_keys), "
        f"later AS ({_LATER_MOVES}) "
        "SELECT l.move_id, l.table_name, count(DISTINCT u.pk), "
        "(array_agg(DISTINCT u.pk))[1:%(n)s] "
        "FROM ledger_change l CROSS JOIN LATERAL unnest(l.pks) AS u(pk) "
        "JOIN mine ON mine.table_name = l.table_name AND mine.pk = u.pk "
        "WHERE l.move_id IN (SELECT id FROM later) "
        "GROUP BY l.move_id, l.table_name ORDER BY l.move_id DESC, l.table_name",
        {"move": move_id, "n": SAMPLE},
    )
    return [
        Conflict(
            kind="later-move",
            table=table,
            count=count,
            sample=tuple(sample),
            message=f"move {later} changed {count} row(s) of {table} again after this one: "
            f"revert the newest first (revert_move {later}), then this one",
        )
        for later, table, count, sample in cursor.fetchall()
    ]


def column_types(cursor: Cursor, tables: Iterable[str]) -> dict[str, dict[str, str]]:
    """The live columns of each table and their types, in one query ({} for a table gone):
    read as the capture reads them (``ledger.capture.live_columns``)."""
    return {
        table: {c.name: c.type for c in columns or ()}
        for table, columns in live_columns(cursor, tables).items()
    }


def dependents(cursor: Cursor, move_id: int, table: str) -> list[Conflict]:
    """After the replay: rows that still reference rows of ``table`` the replay deleted."""
    cursor.execute(
        "SELECT con.conrelid::regclass::text, a.attname, "
        "(SELECT pa.attname FROM pg_index i JOIN pg_attribute pa ON pa.attrelid = i.indrelid "
        "AND pa.attnum = i.indkey[0] WHERE i.indrelid = con.conrelid AND i.indisprimary) "
        "FROM pg_constraint con JOIN pg_attribute a ON a.attrelid = con.conrelid "
        "AND a.attnum = con.conkey[1] "
        "WHERE con.contype = 'f' AND con.confrelid = to_regclass(quote_ident(%s)) "
        "AND cardinality(con.conkey) = 1 ORDER BY 1, 2",
        [table],
    )
    conflicts = []
    for referencing, column, ref_pk in cursor.fetchall():
        key = sql.Identifier(ref_pk) if ref_pk else sql.SQL("ctid")
        cursor.execute(
            sql.SQL(
                "SELECT count(*), (array_agg(r.{key}::text ORDER BY r.{key}))[1:%(n)s] "
                "FROM {ref} AS r WHERE r.{col}::text IN (SELECT k.pk FROM "
                "pg_temp.ledger_replay_keys k WHERE k.table_name = %(table)s AND k.op = 'I')"
            ).format(key=key, ref=sql.SQL(referencing), col=sql.Identifier(column)),
            {"n": SAMPLE, "move": move_id, "table": table},
        )
        count, sample = cursor.fetchone()
        if count:
            conflicts.append(
                Conflict(
                    kind="dependent",
                    table=referencing,
                    count=count,
                    sample=tuple(sample or ()),
                    message=f"{count} row(s) of {referencing} reference, through {column}, "
                    f"rows of {table} that the move created and the revert must delete: "
                    "move or delete them first (a created row that something references is "
                    "never deleted)",
                )
            )
    return conflicts
