"""Read-only scans of a move against the live data: the work a replay would do, and conflicts.

Drifted rows are written to the transaction's temp table ``ledger_replay_drift`` (table, pk,
why), set-based, so a replay that skips them never holds their keys in Python.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.dbapi import sql
from ledger.replay.shapes import TableShape
from ledger.replay.structs import Conflict, StepWork, TableWork

SAMPLE = 5

# ``ledger_replay_keys`` holds every key the replayed move touched, one row per entry, analysed:
# every "is this row one of the move's?" test joins it, so the planner sees its real size and
# hashes (a correlated unnest of ledger_change went quadratic on a move of 146k single-row
# groups, whose fresh rows had no statistics yet). Domain hooks may read it too.
TEMP_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS ledger_replay_keys (
    table_name text NOT NULL, op text NOT NULL, pk text NOT NULL, change_id bigint NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS ledger_replay_drift (
    table_name text NOT NULL, pk text NOT NULL, why text NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS ledger_replay_skip (
    table_name text NOT NULL, pk text NOT NULL, PRIMARY KEY (table_name, pk)
) ON COMMIT DROP;
TRUNCATE pg_temp.ledger_replay_keys, pg_temp.ledger_replay_drift, pg_temp.ledger_replay_skip;
INSERT INTO pg_temp.ledger_replay_keys
SELECT c.table_name, c.op, u.pk, c.id FROM ledger_change c
CROSS JOIN LATERAL unnest(c.pks) AS u(pk) WHERE c.move_id = %(move)s;
ANALYZE pg_temp.ledger_replay_keys;
"""


def work(
    cursor, move_id: int, steps: dict[int, tuple[int, str]], tables: list[str]
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
        "CROSS JOIN LATERAL jsonb_object_keys(c.after) AS k(key) "
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
                sql.Identifier(recorded_json),
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


def find_update_drift(cursor, move_id: int, shape: TableShape) -> None:
    """Rows the move updated whose columns no longer hold the move's last after-value."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    query = sql.SQL(
        "INSERT INTO pg_temp.ledger_replay_drift (table_name, pk, why) "
        "SELECT DISTINCT %(table)s, last.pk, CASE WHEN t.{pk} IS NULL THEN 'deleted since' "
        "ELSE 'changed since' END FROM ("
        "SELECT DISTINCT ON (u.pk, k.key) u.pk, k.key, c.id, c.after, a FROM ledger_change c "
        "CROSS JOIN LATERAL jsonb_populate_record(NULL::{t}, c.after) AS a "
        "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) "
        "CROSS JOIN LATERAL jsonb_object_keys(c.after) AS k(key) "
        "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'U' "
        "AND NOT k.key = ANY(%(derived)s) ORDER BY u.pk, k.key, c.id DESC) AS last "
        "LEFT JOIN {t} AS t ON t.{pk} = last.pk::{pktype} "
        "WHERE (t.{pk} IS NULL OR NOT ({equal})) AND {not_deleted}"
    ).format(
        t=t,
        pk=pk,
        pktype=shape.pk_type,
        equal=_case_equal(shape, shape.compared(), sql.SQL("last.key"), "a", "after"),
        not_deleted=_NOT_DELETED_LATER.format(pk=sql.SQL("last.pk"), id=sql.SQL("last.id")),
    )
    cursor.execute(
        query, {"move": move_id, "table": shape.table, "derived": sorted(shape.derived)}
    )


def find_insert_drift(cursor, move_id: int, shape: TableShape, updated: set[str]) -> None:
    """Rows the move inserted that are gone, or changed in a column the move did not update
    (columns it updated are covered by ``find_update_drift``)."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    columns = [c for c in shape.compared() if c not in updated]
    equal = shape.all_equal(columns, "a", "c.after")
    cursor.execute(
        sql.SQL(
            "INSERT INTO pg_temp.ledger_replay_drift (table_name, pk, why) "
            "SELECT %(table)s, u.pk, CASE WHEN t.{pk} IS NULL THEN 'deleted since' "
            "ELSE 'changed since' END FROM ledger_change c "
            "CROSS JOIN LATERAL jsonb_populate_record(NULL::{t}, c.after) AS a "
            "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) "
            "LEFT JOIN {t} AS t ON t.{pk} = u.pk::{pktype} "
            "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'I' "
            "AND (t.{pk} IS NULL OR NOT ({equal})) AND {not_deleted}"
        ).format(
            t=t,
            pk=pk,
            pktype=shape.pk_type,
            equal=equal,
            not_deleted=_NOT_DELETED_LATER.format(pk=sql.SQL("u.pk"), id=sql.SQL("c.id")),
        ),
        {"move": move_id, "table": shape.table},
    )


def find_reinsert_collisions(cursor, move_id: int, shape: TableShape) -> None:
    """Rows the move deleted whose primary key is taken again."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    cursor.execute(
        sql.SQL(
            "INSERT INTO pg_temp.ledger_replay_drift (table_name, pk, why) "
            "SELECT %(table)s, u.pk, 'key taken again since' FROM ledger_change c "
            "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) "
            "JOIN {t} AS t ON t.{pk} = u.pk::{pktype} "
            "WHERE c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = 'D'"
        ).format(t=t, pk=pk, pktype=shape.pk_type),
        {"move": move_id, "table": shape.table},
    )


def drift_conflicts(cursor) -> list[Conflict]:
    """Summarise ``ledger_replay_drift`` per table and reason."""
    cursor.execute(
        "SELECT table_name, why, count(*), (array_agg(pk ORDER BY length(pk), pk))[1:%s] "
        "FROM pg_temp.ledger_replay_drift GROUP BY table_name, why ORDER BY table_name, why",
        [SAMPLE],
    )
    conflicts = []
    for table, why, count, sample in cursor.fetchall():
        kind = "reinsert" if why.startswith("key") else "drift"
        conflicts.append(
            Conflict(
                kind=kind,
                table=table,
                count=count,
                sample=tuple(sample),
                message=f"{count} row(s) of {table} {why}: the revert would overwrite later "
                "work. Fix or accept them, or pass --skip-drifted to leave them as they are",
                resolved_by="skip_drifted",
            )
        )
    return conflicts


def secret_conflicts(cursor, move_id: int, shape: TableShape) -> list[Conflict]:
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
                "(c.op = 'U' AND c.before ? %(col)s) OR (c.op = 'D' AND c.before ->> %(col)s "
                "IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {t} s WHERE "
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


def later_move_conflicts(cursor, move_id: int) -> list[Conflict]:
    """Rows of this move touched again by a later move that is not reverted."""
    cursor.execute(
        "WITH mine AS (SELECT DISTINCT table_name, pk FROM pg_temp.ledger_replay_keys), "
        "later AS (SELECT m.id FROM ledger_move m WHERE m.id > %(move)s AND m.kind = 'move' "
        "AND NOT EXISTS (SELECT 1 FROM ledger_move r WHERE r.reverts_id = m.id)) "
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


def column_types(cursor, table: str) -> dict[str, str]:
    """The live columns of a table and their types ({} when the table is gone)."""
    cursor.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        [table],
    )
    return dict(cursor.fetchall())


def dependents(cursor, move_id: int, table: str) -> list[Conflict]:
    """After the replay: rows that still reference rows of ``table`` the replay deleted."""
    cursor.execute(
        "SELECT con.conrelid::regclass::text, a.attname, "
        "(SELECT pa.attname FROM pg_index i JOIN pg_attribute pa ON pa.attrelid = i.indrelid "
        "AND pa.attnum = i.indkey[0] WHERE i.indrelid = con.conrelid AND i.indisprimary) "
        "FROM pg_constraint con JOIN pg_attribute a ON a.attrelid = con.conrelid "
        "AND a.attnum = con.conkey[1] "
        "WHERE con.contype = 'f' AND con.confrelid = to_regclass(%s) "
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
