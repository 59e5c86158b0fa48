"""Capture: statement-level triggers rendered from the registry, installed inside a recording.

Nothing of the capture exists outside a recording, so ordinary writes to the tracked tables
pay nothing for the ledger. ``install_capture`` creates, inside the recording's transaction,
one AFTER INSERT / UPDATE / DELETE trigger per registered table, each with its transition
tables, plus a BEFORE TRUNCATE guard; ``uninstall_capture`` drops them before the recording
ends. Postgres DDL is transactional, so no other session ever sees these triggers, and a
recording that fails leaves none behind.

The triggers append to a temporary staging table; ``ledger.context`` seals the staging rows
into ``ledger_change`` with their entry ids and hashes. SQL templates that migrations use are
versioned (``*_V1``) and never edited: a change means a new version and a new migration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from psycopg2 import sql

from ledger.errors import RegistryError
from ledger.registry import TableSpec

if TYPE_CHECKING:
    from psycopg2.extensions import connection as PgConnection
    from psycopg2.extensions import cursor as PgCursor

# The one capture function: runs the statement rendered for its table (TG_ARGV[0]); for an
# UPDATE that statement returns how many new rows had no old row of the same primary key
# (a primary key change), and TG_ARGV[1] then records those as a DELETE plus an INSERT.
# jit is off and work_mem raised because the planner has no statistics on transition tables.
CAPTURE_FUNCTION_V1 = """
CREATE OR REPLACE FUNCTION ledger_capture() RETURNS trigger
LANGUAGE plpgsql SET jit = off SET work_mem = '128MB' AS $$
DECLARE
    step bigint := nullif(current_setting('ledger.step_id', true), '')::bigint;
    unmatched bigint;
BEGIN
    IF coalesce(current_setting('ledger.move_id', true), '') = '' THEN
        RAISE EXCEPTION 'ledger: capture trigger % on % fired outside a recording',
            TG_NAME, TG_TABLE_NAME;
    END IF;
    EXECUTE TG_ARGV[0] INTO unmatched USING step;
    IF unmatched > 0 THEN
        EXECUTE TG_ARGV[1] USING step;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION ledger_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: TRUNCATE of % cannot be captured inside a recording; use DELETE',
        TG_TABLE_NAME;
END
$$;

CREATE OR REPLACE FUNCTION ledger_fingerprint(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT 'sha256:' || encode(sha256(convert_to(value, 'UTF8')), 'hex')
$$;
"""

# V2 of the capture function: the planner has no statistics on transition tables and guesses
# billions of rows, so it picked merge joins and sorted grouping; merge joins and sorts are
# switched off in the function too, which leaves it hash joins and hash aggregates in memory.
CAPTURE_FUNCTION_V2 = """
CREATE OR REPLACE FUNCTION ledger_capture() RETURNS trigger
LANGUAGE plpgsql SET jit = off SET work_mem = '128MB'
    SET enable_mergejoin = off SET enable_sort = off AS $$
DECLARE
    step bigint := nullif(current_setting('ledger.step_id', true), '')::bigint;
    unmatched bigint;
BEGIN
    IF coalesce(current_setting('ledger.move_id', true), '') = '' THEN
        RAISE EXCEPTION 'ledger: capture trigger % on % fired outside a recording',
            TG_NAME, TG_TABLE_NAME;
    END IF;
    EXECUTE TG_ARGV[0] INTO unmatched USING step;
    IF unmatched > 0 THEN
        EXECUTE TG_ARGV[1] USING step;
    END IF;
    RETURN NULL;
END
$$;
"""

DROP_CAPTURE_FUNCTION_V1 = """
DROP FUNCTION IF EXISTS ledger_capture();
DROP FUNCTION IF EXISTS ledger_refuse_truncate();
DROP FUNCTION IF EXISTS ledger_fingerprint(text);
"""

# One row per entry: a change's pks unnested, entry ids counting up from the change's id.
ENTRY_VIEW_V1 = """
CREATE VIEW ledger_entry AS
SELECT c.id + u.ord - 1 AS id, c.move_id, c.step_id, c.table_name, c.op,
       u.row_pk, c.before, c.after
FROM ledger_change AS c
CROSS JOIN LATERAL unnest(c.pks) WITH ORDINALITY AS u(row_pk, ord);
"""

DROP_ENTRY_VIEW_V1 = "DROP VIEW IF EXISTS ledger_entry;"

STAGING_TABLE = """
CREATE TEMP TABLE ledger_staging (
    seq bigserial PRIMARY KEY,
    step_id bigint,
    table_name text NOT NULL,
    op text NOT NULL,
    row_count integer NOT NULL,
    pks text[] NOT NULL,
    before jsonb,
    after jsonb
) ON COMMIT DROP
"""

_TRIGGERS = (
    ("ledger_capture_i", "INSERT", "REFERENCING NEW TABLE AS ledger_new"),
    ("ledger_capture_u", "UPDATE", "REFERENCING OLD TABLE AS ledger_old NEW TABLE AS ledger_new"),
    ("ledger_capture_d", "DELETE", "REFERENCING OLD TABLE AS ledger_old"),
)
_GUARD = "ledger_guard_t"

# Types whose values can be grouped and compared directly (a default btree or hash opclass on
# the very type); other columns (json, arrays, enums, geometry) are grouped as jsonb.
_COLUMNS_QUERY = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod),
       EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
               WHERE oc.opcintype = a.atttypid AND oc.opcdefault AND am.amname = 'hash')
FROM pg_attribute a
WHERE a.attrelid = to_regclass(quote_ident(%s)) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


@dataclass(frozen=True)
class Column:
    """A column of a captured table, as read from the catalog when capture installs."""

    name: str
    type: str
    hashable: bool


def read_columns(cursor: PgCursor, spec: TableSpec) -> tuple[Column, ...]:
    """Read and validate a registered table's columns.

    Raises:
        RegistryError: the table, its primary key or a secret column does not exist.
    """
    cursor.execute("SELECT to_regclass(quote_ident(%s)) IS NOT NULL", [spec.table])
    if not cursor.fetchone()[0]:
        raise RegistryError(
            f"registered table {spec.table} does not exist: run its migrations or "
            "unregister it before recording"
        )
    cursor.execute(_COLUMNS_QUERY, [spec.table])
    columns = tuple(Column(name, type_, hashable) for name, type_, hashable in cursor.fetchall())
    names = {c.name for c in columns}
    for wanted in (spec.pk, *spec.secret_columns):
        if wanted not in names:
            raise RegistryError(
                f"{spec.table} has no column {wanted!r}: fix register_table({spec.table!r}, ...)"
            )
    return columns


def _value(alias: str, column: Column) -> sql.Composable:
    ref = sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(column.name))
    return ref if column.hashable else sql.SQL("to_jsonb({})").format(ref)


def _json_value(expr: sql.Composable, column: Column, spec: TableSpec) -> sql.Composable:
    if column.name in spec.secret_columns:
        return sql.SQL("to_jsonb(ledger_fingerprint(({})::text))").format(expr)
    return sql.SQL("to_jsonb({})").format(expr)


def _row_json(alias: str, spec: TableSpec) -> sql.Composable:
    """The whole row as jsonb, secret columns replaced by their fingerprints."""
    whole = sql.SQL("to_jsonb({})").format(sql.Identifier(alias))
    if not spec.secret_columns:
        return whole
    pairs = sql.SQL(", ").join(
        sql.SQL("{}, ledger_fingerprint(({}.{})::text)").format(
            sql.Literal(name), sql.Identifier(alias), sql.Identifier(name)
        )
        for name in spec.secret_columns
    )
    return sql.SQL("({} || jsonb_build_object({}))").format(whole, pairs)


_STAGE = sql.SQL(
    "INSERT INTO pg_temp.ledger_staging (step_id, table_name, op, row_count, pks, before, after) "
)


def render_insert(spec: TableSpec) -> sql.Composable:
    """One staging row per inserted row, the whole new row in ``after``."""
    pk = sql.SQL("n.{}").format(sql.Identifier(spec.pk))
    return sql.SQL(
        "WITH ins AS ({stage} SELECT $1, {table}, 'I', 1, ARRAY[({pk})::text], NULL, {row} "
        "FROM ledger_new AS n ORDER BY {pk}) SELECT 0"
    ).format(stage=_STAGE, table=sql.Literal(spec.table), pk=pk, row=_row_json("n", spec))


def render_delete(spec: TableSpec) -> sql.Composable:
    """One staging row per deleted row, the whole old row in ``before``."""
    pk = sql.SQL("o.{}").format(sql.Identifier(spec.pk))
    return sql.SQL(
        "WITH ins AS ({stage} SELECT $1, {table}, 'D', 1, ARRAY[({pk})::text], {row}, NULL "
        "FROM ledger_old AS o ORDER BY {pk}) SELECT 0"
    ).format(stage=_STAGE, table=sql.Literal(spec.table), pk=pk, row=_row_json("o", spec))


def render_update(spec: TableSpec, columns: tuple[Column, ...]) -> sql.Composable:
    """Grouped update capture: one staging row per distinct (before, after) of changed columns.

    Old and new rows are joined on the primary key. Per column the typed old and new values
    are kept only where they differ (both NULL where the column did not change), rows are
    grouped on those values (a hash aggregate), and the jsonb of a group is built once. The
    statement returns the number of new rows with no old row of the same key (key changes).
    """
    cols = [c for c in columns if c.name != spec.pk]
    pk = sql.Identifier(spec.pk)
    picks, keys, before, after, changed = [], [], [], [], []
    for i, col in enumerate(cols):
        old, new = _value("o", col), _value("n", col)
        b, a = sql.Identifier(f"b{i}"), sql.Identifier(f"a{i}")
        diff = sql.SQL("{} IS DISTINCT FROM {}").format(old, new)
        picks.append(
            sql.SQL("CASE WHEN {d} THEN {o} END AS {b}, CASE WHEN {d} THEN {n} END AS {a}").format(
                d=diff, o=old, n=new, b=b, a=a
            )
        )
        keys += [b, a]
        is_changed = sql.SQL("{} IS DISTINCT FROM {}").format(b, a)
        changed.append(is_changed)
        name = sql.Literal(col.name)
        for side, target in ((b, before), (a, after)):
            target.append(
                sql.SQL(
                    "CASE WHEN {c} THEN jsonb_build_object({name}, {v}) ELSE '{{}}' END"
                ).format(c=is_changed, name=name, v=_json_value(side, col, spec))
            )
    if not cols:
        return sql.SQL("SELECT 0")
    # No ORDER BY inside array_agg: Postgres never hashes a grouping with ordered aggregates,
    # and sorting a million keys costs a tenth of the update. A group's pks keep the order the
    # update wrote them in; the digest covers that stored order. New rows with no old row of
    # the same key (a key change) are counted, not staged: TG_ARGV[1] records those.
    return sql.SQL(
        "WITH j AS (SELECT n.{pk} AS ledger_pk, o.{pk} IS NULL AS ledger_orphan, {picks} "
        "FROM ledger_new AS n LEFT JOIN ledger_old AS o ON o.{pk} = n.{pk}), "
        "g AS (SELECT ledger_orphan, {keys}, count(*) AS ledger_n, "
        "min(ledger_pk) AS ledger_first, array_agg(ledger_pk::text) AS ledger_pks "
        "FROM j GROUP BY ledger_orphan, {keys}), "
        "ins AS ({stage} SELECT $1, {table}, 'U', ledger_n, "
        "ledger_pks, {before}, {after} "
        "FROM g WHERE NOT ledger_orphan AND ({changed}) ORDER BY ledger_first) "
        "SELECT coalesce(sum(ledger_n) FILTER (WHERE ledger_orphan), 0) FROM g"
    ).format(
        pk=pk,
        picks=sql.SQL(", ").join(picks),
        keys=sql.SQL(", ").join(keys),
        stage=_STAGE,
        table=sql.Literal(spec.table),
        before=sql.SQL(" || ").join(before),
        after=sql.SQL(" || ").join(after),
        changed=sql.SQL(" OR ").join(changed),
    )


def render_key_change(spec: TableSpec) -> sql.Composable:
    """Rows of an UPDATE whose primary key changed: a DELETE of the old row, an INSERT."""
    pk = sql.Identifier(spec.pk)
    return sql.SQL(
        "{stage} SELECT $1, {table}, x.op, 1, ARRAY[x.pk::text], x.before, x.after FROM ("
        "SELECT 'D' AS op, 0 AS k, o.{pk} AS pk, {old} AS before, NULL::jsonb AS after "
        "FROM ledger_old AS o "
        "WHERE NOT EXISTS (SELECT 1 FROM ledger_new AS n WHERE n.{pk} = o.{pk}) "
        "UNION ALL SELECT 'I', 1, n.{pk}, NULL, {new} "
        "FROM ledger_new AS n "
        "WHERE NOT EXISTS (SELECT 1 FROM ledger_old AS o WHERE o.{pk} = n.{pk})"
        ") AS x ORDER BY x.k, x.pk"
    ).format(
        stage=_STAGE,
        table=sql.Literal(spec.table),
        pk=pk,
        old=_row_json("o", spec),
        new=_row_json("n", spec),
    )


def render_install(spec: TableSpec, columns: tuple[Column, ...]) -> sql.Composable:
    """The CREATE TRIGGER statements capturing one table."""
    bodies = {
        "INSERT": (render_insert(spec),),
        "UPDATE": (render_update(spec, columns), render_key_change(spec)),
        "DELETE": (render_delete(spec),),
    }
    table = sql.Identifier(spec.table)
    statements = []
    for name, event, referencing in _TRIGGERS:
        statements.append(
            sql.SQL(
                "CREATE TRIGGER {name} AFTER {event} ON {table} {ref} "
                "FOR EACH STATEMENT EXECUTE FUNCTION ledger_capture({args})"
            ).format(
                name=sql.Identifier(name),
                event=sql.SQL(event),
                table=table,
                ref=sql.SQL(referencing),
                args=sql.SQL(", ").join(sql.Placeholder() for _ in bodies[event]),
            )
        )
    statements.append(
        sql.SQL(
            "CREATE TRIGGER {name} BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_truncate()"
        ).format(name=sql.Identifier(_GUARD), table=table)
    )
    return sql.SQL("; ").join(statements)


def install_capture(raw: PgConnection, specs: tuple[TableSpec, ...]) -> dict[str, object]:
    """Create the capture triggers of every registered table, in name order.

    Takes SHARE ROW EXCLUSIVE on each table until the transaction ends: writers of those
    tables wait for the recording, and the recording waits for open writers first.

    Returns:
        The per-table snapshot stored in the move header: primary key, column types, secrets.
    """
    snapshot: dict[str, object] = {}
    with raw.cursor() as cursor:
        for spec in specs:
            columns = read_columns(cursor, spec)
            args = [
                body.as_string(raw)
                for body in (
                    render_insert(spec),
                    render_update(spec, columns),
                    render_key_change(spec),
                    render_delete(spec),
                )
            ]
            cursor.execute(render_install(spec, columns), args)
            snapshot[spec.table] = {
                "label": spec.label,
                "pk": spec.pk,
                "columns": {c.name: c.type for c in columns},
                "secret_columns": list(spec.secret_columns),
            }
        cursor.execute(STAGING_TABLE)
    return snapshot


def uninstall_capture(raw: PgConnection, specs: tuple[TableSpec, ...]) -> None:
    """Drop the capture triggers ``install_capture`` created (same transaction)."""
    statements = [
        sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(name), sql.Identifier(spec.table))
        for spec in specs
        for name in (*(t[0] for t in _TRIGGERS), _GUARD)
    ]
    if statements:
        with raw.cursor() as cursor:
            cursor.execute(sql.SQL("; ").join(statements))
