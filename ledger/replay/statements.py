"""Set-based replay statements: one statement per (step, table, operation) of a move.

Every statement reads the move's change groups straight from ``ledger_change`` and is a
compare-and-swap: it touches a row only where the row still holds what the move left in it.
Typed values come from ``json_populate_record(NULL::<table>, <recorded jsonb>)``, evaluated
once per change group (``MATERIALIZED``), not once per row.
"""

from __future__ import annotations

from ledger.dbapi import sql
from ledger.replay.shapes import TableShape

# Rows of one (move, table, op, step), optionally one change group only.
_CHANGES = sql.SQL(
    "c.move_id = %(move)s AND c.table_name = %(table)s AND c.op = {op} "
    "AND c.step_id IS NOT DISTINCT FROM %(step)s "
    "AND (%(change)s::bigint IS NULL OR c.id = %(change)s::bigint)"
)


def _changes(op: str) -> sql.Composable:
    return _CHANGES.format(op=sql.Literal(op))


def restore_updates(
    shape: TableShape, columns: list[str], *, skips: bool = True
) -> sql.Composable:
    """UPDATE rows back to their before-values where they still hold their after-values.

    Compare-and-swap per column set: a drifted cell the replay leaves as it is
    (``ledger_replay_skip``) is neither compared nor written, and the rest of its row is
    restored; a bookkeeping column goes back to its before-value only where it still holds
    the after-value (a later save's stamp is kept); derived columns are written, never
    compared. Rows skipped whole are not touched.

    Args:
        shape: the table.
        columns: the columns the restored change groups changed (their union); secret
            columns are never among them (a fingerprint cannot be restored).
        skips: whether the table has rows or cells to leave (else none is looked up).
    """
    t, pk = shape.ident, sql.Identifier(shape.pk)
    sets = sql.SQL(", ").join(_restore(shape, col) for col in columns)
    skip = (
        sql.SQL(
            "coalesce((SELECT array_agg(s.col) FROM pg_temp.ledger_replay_skip s "
            "WHERE s.table_name = %(table)s AND s.pk = u.pk), '{}')"
        )
        if skips
        else sql.SQL("'{}'::text[]")
    )
    cas = _cas_changed(shape, columns)
    return sql.SQL(
        "WITH ch AS MATERIALIZED (SELECT c.pks, c.before, c.after, b, a FROM ledger_change c "
        "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.before) AS b "
        "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.after) AS a WHERE {where}), "
        "src AS (SELECT u.pk, ch.before, ch.after, ch.b, ch.a, {skip} AS skip "
        "FROM ch CROSS JOIN LATERAL unnest(ch.pks) AS u(pk)) "
        "UPDATE {t} AS t SET {sets} FROM src WHERE t.{pk} = src.pk::{pktype} "
        "AND NOT '' = ANY(src.skip) AND {cas}"
    ).format(t=t, where=_changes("U"), skip=skip, sets=sets, pk=pk, pktype=shape.pk_type, cas=cas)


def _restore(shape: TableShape, col: str) -> sql.Composable:
    """``col = <before-value>`` where the group changed it and the cell is not skipped."""
    c, name = sql.Identifier(col), sql.Literal(col)
    keep = sql.SQL("{name} = ANY(src.skip)").format(name=name)
    if col in shape.bookkeeping:
        keep = sql.SQL("{keep} OR NOT ({eq})").format(
            keep=keep,
            eq=shape.equal(
                sql.SQL("t.{}").format(c),
                sql.SQL("(src.a).{}").format(c),
                col,
                sql.SQL("src.after"),
            ),
        )
    return sql.SQL(
        "{c} = CASE WHEN (src.before -> {name}) IS NOT NULL AND NOT ({keep}) THEN (src.b).{c} "
        "ELSE t.{c} END"
    ).format(c=c, name=name, keep=keep)


def _cas_changed(shape: TableShape, columns: list[str]) -> sql.Composable:
    """Each changed, compared column still holds the group's after-value, unless its cell is
    left as it is."""
    parts = [
        sql.SQL("((src.after -> {name}) IS NULL OR {name} = ANY(src.skip) OR {eq})").format(
            name=sql.Literal(col),
            eq=shape.equal(
                sql.SQL("t.{}").format(sql.Identifier(col)),
                sql.SQL("(src.a).{}").format(sql.Identifier(col)),
                col,
                sql.SQL("src.after"),
            ),
        )
        for col in columns
        if col not in shape.soft
    ]
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")


def delete_inserts(shape: TableShape) -> sql.Composable:
    """DELETE the rows the move inserted, where they still hold what was inserted."""
    t, pk = shape.ident, sql.Identifier(shape.pk)
    return sql.SQL(
        "WITH src AS (SELECT u.pk, c.after, a FROM ledger_change c "
        "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.after) AS a "
        "CROSS JOIN LATERAL unnest(c.pks) AS u(pk) WHERE {where} "
        "AND NOT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_skip s "
        "WHERE s.table_name = %(table)s AND s.pk = u.pk AND s.col = '')) "
        "DELETE FROM {t} AS t USING src WHERE t.{pk} = src.pk::{pktype} AND {cas}"
    ).format(
        t=t,
        where=_changes("I"),
        pk=pk,
        pktype=shape.pk_type,
        cas=shape.all_equal(shape.compared(), "src.a", "src.after"),
    )


def reinsert_deletes(shape: TableShape) -> sql.Composable:
    """INSERT back the rows the move deleted, with their primary keys (but rows left out for
    a key taken again or a unique key clash).

    Secret columns were recorded as fingerprints: their value is taken from a live row of the
    same table whose value has that fingerprint (a clone shares its original's credentials).
    """
    t, pk = shape.ident, sql.Identifier(shape.pk)
    names = list(shape.columns)
    values = []
    for col in names:
        ident = sql.Identifier(col)
        if col in shape.secret:
            values.append(
                sql.SQL(
                    "(SELECT s.{c} FROM {t} s WHERE ledger_fingerprint((s.{c})::text) = "
                    "c.before ->> {name} LIMIT 1)"
                ).format(c=ident, t=t, name=sql.Literal(col))
            )
        else:
            values.append(sql.SQL("(r).{}").format(ident))
    return sql.SQL(
        "INSERT INTO {t} ({cols}) SELECT {values} FROM ledger_change c "
        "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.before) AS r WHERE {where} "
        "AND NOT EXISTS (SELECT 1 FROM {t} x WHERE x.{pk} = (r).{pk}) "
        "AND NOT EXISTS (SELECT 1 FROM pg_temp.ledger_replay_skip s "
        "WHERE s.table_name = %(table)s AND s.pk = (r).{pk}::text AND s.col = '')"
    ).format(
        t=t,
        cols=sql.SQL(", ").join(sql.Identifier(n) for n in names),
        values=sql.SQL(", ").join(values),
        where=_changes("D"),
        pk=pk,
    )
