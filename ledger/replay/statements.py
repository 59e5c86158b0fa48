"""Set-based replay statements: one statement per (step, table, operation) of a move.

Every statement reads the move's change groups straight from ``ledger_change`` and is a
compare-and-swap: it touches a row only where the row still holds what the move left in it.
Typed values come from ``json_populate_record(NULL::<table>, <recorded jsonb>)``, evaluated
once per change group (``MATERIALIZED``), not once per row.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    sides = [_GroupColumn(i, col) for i, col in enumerate(columns)]
    sets = sql.SQL(", ").join(_restore(shape, side) for side in sides)
    skip = (
        sql.SQL(
            "coalesce((SELECT array_agg(s.col) FROM pg_temp.ledger_replay_skip s "
            "WHERE s.table_name = %(table)s AND s.pk = u.pk), '{}')"
        )
        if skips
        else sql.SQL("'{}'::text[]")
    )
    cas = _cas_changed(shape, sides)
    # Per group, once: whether it changed each column, and its before- and after-values
    # typed; each row then reads plain columns (no JSON parsed, no record taken apart).
    per_group = sql.SQL(", ").join(side.select() for side in sides)
    return sql.SQL(
        "WITH ch AS MATERIALIZED (SELECT c.pks, {per_group} FROM ledger_change c "
        "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.before) AS b "
        "CROSS JOIN LATERAL json_populate_record(NULL::{t}, c.after) AS a WHERE {where}), "
        "src AS (SELECT u.pk, ch.*, {skip} AS skip "
        "FROM ch CROSS JOIN LATERAL unnest(ch.pks) AS u(pk)) "
        "UPDATE {t} AS t SET {sets} FROM src WHERE t.{pk} = src.pk::{pktype} "
        "AND NOT '' = ANY(src.skip) AND {cas}"
    ).format(
        t=t,
        per_group=per_group,
        where=_changes("U"),
        skip=skip,
        sets=sets,
        pk=pk,
        pktype=shape.pk_type,
        cas=cas,
    )


@dataclass(frozen=True)
class _GroupColumn:
    """A column of the restored groups, as the group's per-column fields (``ch``/``src``)."""

    index: int
    name: str

    def field(self, what: str) -> sql.Composable:
        """``src.ledger_<what><index>``: ``has_before``/``has_after`` (the group changed the
        column), ``before``/``after`` (its typed value)."""
        return sql.SQL("src.{}").format(sql.Identifier(f"ledger_{what}{self.index}"))

    def select(self) -> sql.Composable:
        col, name = sql.Identifier(self.name), sql.Literal(self.name)
        alias = [sql.Identifier(f"ledger_{w}{self.index}") for w in _FIELDS]
        return sql.SQL(
            "(c.before -> {name}) IS NOT NULL AS {}, (c.after -> {name}) IS NOT NULL AS {}, "
            "(b).{col} AS {}, (a).{col} AS {}"
        ).format(*alias, name=name, col=col)


_FIELDS = ("has_before", "has_after", "before", "after")


def _restore(shape: TableShape, side: _GroupColumn) -> sql.Composable:
    """``col = <before-value>`` where the group changed it and the cell is not skipped."""
    c, name = sql.Identifier(side.name), sql.Literal(side.name)
    keep = sql.SQL("{name} = ANY(src.skip)").format(name=name)
    if side.name in shape.bookkeeping:
        keep = sql.SQL("{keep} OR NOT ({eq})").format(keep=keep, eq=_still_after(shape, side))
    return sql.SQL(
        "{c} = CASE WHEN {changed} AND NOT ({keep}) THEN {before} ELSE t.{c} END"
    ).format(c=c, changed=side.field("has_before"), keep=keep, before=side.field("before"))


def _still_after(shape: TableShape, side: _GroupColumn) -> sql.Composable:
    """The live cell holds the group's after-value (secret columns are never restored, so the
    recorded JSON is never needed)."""
    current = sql.SQL("t.{}").format(sql.Identifier(side.name))
    return shape.equal(current, side.field("after"), side.name, sql.SQL("NULL::json"))


def _cas_changed(shape: TableShape, sides: list[_GroupColumn]) -> sql.Composable:
    """Each changed, compared column still holds the group's after-value, unless its cell is
    left as it is."""
    parts = [
        sql.SQL("(NOT {changed} OR {name} = ANY(src.skip) OR {eq})").format(
            changed=side.field("has_after"),
            name=sql.Literal(side.name),
            eq=_still_after(shape, side),
        )
        for side in sides
        if side.name not in shape.soft
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
