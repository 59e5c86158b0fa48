"""Capture SQL: the trigger function, and the per-table statement-level triggers it runs.

The capture function (``ledger_capture()``) is installed by a migration. The triggers are
rendered per registered table from its columns and installed just in time by
``ledger.install``: an AFTER INSERT / UPDATE / DELETE trigger per table, each with its
transition tables, and a BEFORE TRUNCATE guard. Every trigger carries a ``WHEN`` clause on the
``ledger.recording`` setting, so it fires only in the one transaction that records; the other
sessions writing the same tables during a move pay only for the transition tables.

The triggers append to a temporary staging table; ``ledger.seal`` seals the staged rows into
``ledger_change``. Templates that migrations use are versioned (``*_V1``) and never edited.

Values are recorded exactly as stored: columns whose type has an equality that is not identity
(``numeric`` 1.0 = 1.00, ``jsonb``, floats with -0, intervals, arrays, ...) are compared and
grouped by their text form, and floats are recorded as their text (JSON numbers drop -0).
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha256
from typing import TYPE_CHECKING

from ledger.dbapi import sql
from ledger.errors import RegistryError
from ledger.registry import TableSpec

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ledger.dbapi import Cursor

# The GUC that switches capture on for one transaction; its value names the recording.
GATE = "ledger.recording"
# The GUC holding the position (1, 2, ...) of the open step in its recording.
STEP = "ledger.step"

# The capture function: runs the statement rendered for its table (TG_ARGV[0]); for an UPDATE
# that statement returns how many new rows had no old row of the same primary key (a primary
# key change), and TG_ARGV[1] then records those as a DELETE plus an INSERT. The planner has no
# statistics on transition tables and guesses billions of rows: jit, merge joins and sorts are
# switched off and work_mem raised, which leaves it hash joins and hash aggregates in memory.
CAPTURE_FUNCTION_V1 = """
CREATE OR REPLACE FUNCTION ledger_capture() RETURNS trigger
LANGUAGE plpgsql SET jit = off SET work_mem = '128MB'
    SET enable_mergejoin = off SET enable_sort = off AS $$
DECLARE
    step integer := nullif(current_setting('ledger.step', true), '')::integer;
    unmatched bigint;
BEGIN
    IF coalesce(current_setting('ledger.recording', true), '') = '' THEN
        RETURN NULL;
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

-- HMAC-SHA256 under the pads of a key the recording sets for its transaction
-- (ledger.fingerprints); plain SHA-256 only where no key is set (nothing secret is recorded
-- then: a recording with secret columns refuses to start without a key).
CREATE OR REPLACE FUNCTION ledger_fingerprint(value text) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN coalesce(current_setting('ledger.fp_outer', true), '') = ''
        THEN 'sha256:' || encode(sha256(convert_to(value, 'UTF8')), 'hex')
        ELSE 'hmac-sha256:' || encode(sha256(
            decode(current_setting('ledger.fp_outer'), 'hex')
            || sha256(decode(current_setting('ledger.fp_inner'), 'hex')
                      || convert_to(value, 'UTF8'))), 'hex')
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

# ``step`` is the position of the step in its recording; sealing maps it to the step's id.
STAGING_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS ledger_staging (
    seq bigserial PRIMARY KEY,
    step integer,
    table_name text NOT NULL,
    op text NOT NULL,
    row_count integer NOT NULL,
    pks text[] {compression} NOT NULL,
    before jsonb,
    after jsonb
) ON COMMIT DROP
"""

_LZ4 = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"


def server_has_lz4(cursor: Cursor) -> bool:
    """Whether the server can compress values with lz4 (PostgreSQL 14 or later, built with it)."""
    cursor.execute(_LZ4)
    row = cursor.fetchone()
    return bool(row and row[0])


def create_staging_table(cursor: Cursor) -> None:
    """Create the recording's staging table (dropped at commit).

    A group's keys are compressed with lz4 where the server has it (PostgreSQL 14 or later,
    built with lz4): a million keys compress in about 20 ms instead of 140 ms (pglz), inside
    the capture statement, and read back in less than half the time; they take 25% more
    room. Sealing copies them into ``ledger_change`` as they are (a compressed value is not
    compressed again).
    """
    lz4 = server_has_lz4(cursor)
    cursor.execute(STAGING_TABLE.format(compression="COMPRESSION lz4" if lz4 else ""))


# (trigger name, event, transition tables). Trigger names are per table in Postgres.
TRIGGERS = (
    ("ledger_capture_i", "INSERT", "REFERENCING NEW TABLE AS ledger_new"),
    ("ledger_capture_u", "UPDATE", "REFERENCING OLD TABLE AS ledger_old NEW TABLE AS ledger_new"),
    ("ledger_capture_d", "DELETE", "REFERENCING OLD TABLE AS ledger_old"),
)
GUARD = "ledger_guard_t"
TRIGGER_NAMES = (*(name for name, _, _ in TRIGGERS), GUARD)
_WHEN = "WHEN (current_setting('ledger.recording', true) <> '')"

# Types whose equality is identity and whose JSON form reads back exactly: compared, grouped
# and recorded as they are. Every other type goes through its text form.
_EXACT_TYPES = frozenset(
    {
        "bigint",
        "integer",
        "smallint",
        "boolean",
        "text",
        "character varying",
        "character",
        "uuid",
        "date",
        "timestamp without time zone",
        "timestamp with time zone",
        "time without time zone",
        "bytea",
        "oid",
        '"char"',
        "name",
    }
)
_FLOAT_TYPES = frozenset({"real", "double precision"})
# Key types with a min() aggregate.
_ORDERED = frozenset(
    {"bigint", "integer", "smallint", "text", "character varying", "character", "date", "numeric"}
)

_COLUMNS_QUERY = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), format_type(a.atttypid, NULL),
       coalesce(co.collisdeterministic, true)
FROM pg_attribute a
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE a.attrelid = to_regclass(quote_ident(%s)) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


@dataclass(frozen=True)
class Column:
    """A column of a captured table, as read from the catalog.

    Attributes:
        name: the column's name.
        type: its type with modifiers (``numeric(10,2)``), as the move header stores it.
        base_type: its type without modifiers (``numeric``), for casts back from text.
        exact: equality is identity and JSON round-trips the value.
    """

    name: str
    type: str
    base_type: str
    exact: bool

    @property
    def is_float(self) -> bool:
        return self.base_type in _FLOAT_TYPES


def read_columns(cursor: Cursor, spec: TableSpec) -> tuple[Column, ...]:
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
    columns = tuple(
        Column(name, type_, base, base in _EXACT_TYPES and deterministic)
        for name, type_, base, deterministic in cursor.fetchall()
    )
    names = {c.name for c in columns}
    for wanted in (spec.pk, *spec.secret_columns):
        if wanted not in names:
            raise RegistryError(
                f"{spec.table} has no column {wanted!r}: fix register_table({spec.table!r}, ...)"
            )
    return columns


def _ref(alias: str, column: Column) -> sql.Composable:
    return sql.SQL("{}.{}").format(sql.Identifier(alias), sql.Identifier(column.name))


def _key(alias: str, column: Column) -> sql.Composable:
    """The value rows are compared and grouped on: typed when exact, else its text."""
    ref = _ref(alias, column)
    return ref if column.exact else sql.SQL("({})::text").format(ref)


def _json_of_key(key: sql.Composable, column: Column, spec: TableSpec) -> sql.Composable:
    """The recorded JSON of a grouping key (typed, or the text form of the value)."""
    if column.name in spec.secret_columns:
        return sql.SQL("to_jsonb(ledger_fingerprint(({})::text))").format(key)
    if column.exact or column.is_float:
        return sql.SQL("to_jsonb({})").format(key)
    return sql.SQL("to_jsonb(({})::{})").format(key, sql.SQL(column.base_type))


def _row_json(alias: str, spec: TableSpec, columns: tuple[Column, ...]) -> sql.Composable:
    """The whole row as jsonb: secrets as fingerprints, floats as their text."""
    whole = sql.SQL("to_jsonb({})").format(sql.Identifier(alias))
    overrides = [
        sql.SQL("{}, ledger_fingerprint(({})::text)").format(sql.Literal(c.name), _ref(alias, c))
        if c.name in spec.secret_columns
        else sql.SQL("{}, ({})::text").format(sql.Literal(c.name), _ref(alias, c))
        for c in columns
        if c.name in spec.secret_columns or c.is_float
    ]
    if not overrides:
        return whole
    return sql.SQL("({} || jsonb_build_object({}))").format(whole, sql.SQL(", ").join(overrides))


_STAGE = sql.SQL(
    "INSERT INTO pg_temp.ledger_staging (step, table_name, op, row_count, pks, before, after) "
)


def render_insert(spec: TableSpec, columns: tuple[Column, ...]) -> sql.Composable:
    """One staging row per inserted row, the whole new row in ``after``."""
    pk = sql.SQL("n.{}").format(sql.Identifier(spec.pk))
    return sql.SQL(
        "WITH ins AS ({stage} SELECT $1, {table}, 'I', 1, ARRAY[({pk})::text], NULL, {row} "
        "FROM ledger_new AS n ORDER BY {pk}) SELECT 0"
    ).format(stage=_STAGE, table=sql.Literal(spec.table), pk=pk, row=_row_json("n", spec, columns))


def render_delete(spec: TableSpec, columns: tuple[Column, ...]) -> sql.Composable:
    """One staging row per deleted row, the whole old row in ``before``."""
    pk = sql.SQL("o.{}").format(sql.Identifier(spec.pk))
    return sql.SQL(
        "WITH ins AS ({stage} SELECT $1, {table}, 'D', 1, ARRAY[({pk})::text], {row}, NULL "
        "FROM ledger_old AS o ORDER BY {pk}) SELECT 0"
    ).format(stage=_STAGE, table=sql.Literal(spec.table), pk=pk, row=_row_json("o", spec, columns))


def render_update(spec: TableSpec, columns: tuple[Column, ...]) -> sql.Composable:
    """Grouped update capture: one staging row per distinct (before, after) of changed columns.

    Old and new rows are joined on the primary key. Per column the old and new values (typed,
    or as text where equality is not identity) are kept only where they differ (both NULL
    where the column did not change), rows are grouped on those values (a hash aggregate), and
    the jsonb of a group is built once. The statement returns the number of new rows with no
    old row of the same key (key changes).
    """
    cols = [c for c in columns if c.name != spec.pk]
    if not cols:
        return sql.SQL("SELECT 0")
    pk = sql.Identifier(spec.pk)
    pk_column = next(c for c in columns if c.name == spec.pk)
    # The order groups are staged in: by their smallest key (by its text where the key's type
    # has no min(), e.g. uuid).
    first = sql.SQL(
        "min(ledger_pk)" if pk_column.base_type in _ORDERED else "min(ledger_pk::text)"
    )
    picks: list[sql.Composable] = []
    keys: list[sql.Composable] = []
    before: list[sql.Composable] = []
    after: list[sql.Composable] = []
    changed: list[sql.Composable] = []
    for i, col in enumerate(cols):
        old, new = _key("o", col), _key("n", col)
        b, a = sql.Identifier(f"b{i}"), sql.Identifier(f"a{i}")
        # nullif(old, new) is the old value where the column changed, NULL where it did not
        # (IS DISTINCT FROM in one comparison: equality is identity on these keys).
        picks.append(
            sql.SQL("nullif({o}, {n}) AS {b}, nullif({n}, {o}) AS {a}").format(
                o=old, n=new, b=b, a=a
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
                ).format(c=is_changed, name=name, v=_json_of_key(side, col, spec))
            )
    # No ORDER BY inside array_agg: Postgres never hashes a grouping with ordered aggregates,
    # and sorting a million keys costs a tenth of the update. A group's pks keep the order the
    # update wrote them in; the digest covers that stored order. New rows with no old row of
    # the same key (a key change) are counted, not staged: TG_ARGV[1] records those.
    return sql.SQL(
        "WITH j AS (SELECT n.{pk} AS ledger_pk, o.{pk} IS NULL AS ledger_orphan, {picks} "
        "FROM ledger_new AS n LEFT JOIN ledger_old AS o ON o.{pk} = n.{pk}), "
        "g AS (SELECT ledger_orphan, {keys}, count(*) AS ledger_n, "
        "{first} AS ledger_first, array_agg(ledger_pk::text) AS ledger_pks "
        "FROM j GROUP BY ledger_orphan, {keys}), "
        "ins AS ({stage} SELECT $1, {table}, 'U', ledger_n, "
        "ledger_pks, {before}, {after} "
        "FROM g WHERE NOT ledger_orphan AND ({changed}) ORDER BY ledger_first) "
        "SELECT coalesce(sum(ledger_n) FILTER (WHERE ledger_orphan), 0) FROM g"
    ).format(
        pk=pk,
        first=first,
        picks=sql.SQL(", ").join(picks),
        keys=sql.SQL(", ").join(keys),
        stage=_STAGE,
        table=sql.Literal(spec.table),
        before=sql.SQL(" || ").join(before),
        after=sql.SQL(" || ").join(after),
        changed=sql.SQL(" OR ").join(changed),
    )


def render_key_change(spec: TableSpec, columns: tuple[Column, ...]) -> sql.Composable:
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
        old=_row_json("o", spec, columns),
        new=_row_json("n", spec, columns),
    )


@dataclass(frozen=True)
class TableCapture:
    """The capture triggers of one table, rendered as one script, with the hash that names
    their version."""

    spec: TableSpec
    columns: tuple[Column, ...]
    script: str
    digest: str

    @property
    def comment(self) -> str:
        """What ``COMMENT ON TRIGGER`` stores, so a stale install is seen and replaced."""
        return f"ledger:{self.digest}"

    def snapshot(self) -> dict[str, object]:
        """The per-table record stored in the move header."""
        snapshot: dict[str, object] = {
            "label": self.spec.label,
            "pk": self.spec.pk,
            "columns": {c.name: c.type for c in self.columns},
            "secret_columns": list(self.spec.secret_columns),
        }
        if not self.spec.replay:
            snapshot["replay"] = False
        return snapshot


_ALL_COLUMNS = """
SELECT x.name, to_regclass(quote_ident(x.name)) IS NOT NULL, a.attname,
    format_type(a.atttypid, a.atttypmod), format_type(a.atttypid, NULL),
    coalesce(co.collisdeterministic, true)
FROM unnest(%s::text[]) AS x(name)
LEFT JOIN pg_attribute a ON a.attrelid = to_regclass(quote_ident(x.name)) AND a.attnum > 0
    AND NOT a.attisdropped
LEFT JOIN pg_collation co ON co.oid = a.attcollation
ORDER BY x.name, a.attnum
"""


def live_columns(cursor: Cursor, tables: Iterable[str]) -> dict[str, tuple[Column, ...] | None]:
    """The live columns of each table, in one query (None for a table that does not exist)."""
    cursor.execute(_ALL_COLUMNS, [sorted(set(tables))])
    gone: set[str] = set()
    found: dict[str, list[Column]] = {}
    for table, exists, name, type_, base, deterministic in cursor.fetchall():
        if not exists:
            gone.add(table)
            continue
        columns = found.setdefault(table, [])
        if name is not None:  # a table without columns has one row, with no column
            columns.append(Column(name, type_, base, base in _EXACT_TYPES and deterministic))
    return {
        **{table: tuple(columns) for table, columns in found.items()},
        **dict.fromkeys(gone),
    }


def read_all_columns(
    cursor: Cursor, specs: tuple[TableSpec, ...]
) -> dict[str, tuple[Column, ...]]:
    """The columns of every table of ``specs``, in one query, validated as ``read_columns``.

    Raises:
        RegistryError: a table, its primary key or a secret column does not exist.
    """
    found: dict[str, tuple[Column, ...]] = {}
    for table, columns in live_columns(cursor, [spec.table for spec in specs]).items():
        if columns is None:
            raise RegistryError(
                f"registered table {table} does not exist: run its migrations or "
                "unregister it before recording"
            )
        found[table] = columns
    for spec in specs:
        names = {c.name for c in found[spec.table]}
        for wanted in (spec.pk, *spec.secret_columns):
            if wanted not in names:
                raise RegistryError(
                    f"{spec.table} has no column {wanted!r}: fix "
                    f"register_table({spec.table!r}, ...)"
                )
    return found


# Rendering composes a few kB of SQL per table: done once per table and column set.
_rendered: dict[tuple[TableSpec, tuple[Column, ...]], TableCapture] = {}


def render_capture(
    cursor: Cursor, spec: TableSpec, columns: tuple[Column, ...] | None = None
) -> TableCapture:
    """Render the capture triggers of ``spec`` from its live columns (read if not given).

    Raises:
        RegistryError: the table or a named column does not exist.
    """
    if columns is None:
        columns = read_columns(cursor, spec)
    cached = _rendered.get((spec, columns))
    if cached is not None:
        return cached
    bodies = {
        "INSERT": (render_insert(spec, columns),),
        "UPDATE": (render_update(spec, columns), render_key_change(spec, columns)),
        "DELETE": (render_delete(spec, columns),),
    }
    table = sql.Identifier(spec.table)
    statements: list[sql.Composable] = []
    for name, event, referencing in TRIGGERS:
        statements.append(
            sql.SQL(
                "CREATE TRIGGER {name} AFTER {event} ON {table} {ref} "
                "FOR EACH STATEMENT {when} EXECUTE FUNCTION ledger_capture({args})"
            ).format(
                name=sql.Identifier(name),
                event=sql.SQL(event),
                table=table,
                ref=sql.SQL(referencing),
                when=sql.SQL(_WHEN),
                args=sql.SQL(", ").join(sql.Literal(_text(cursor, b)) for b in bodies[event]),
            )
        )
    statements.append(
        sql.SQL(
            "CREATE TRIGGER {name} BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT {when} EXECUTE FUNCTION ledger_refuse_truncate()"
        ).format(name=sql.Identifier(GUARD), table=table, when=sql.SQL(_WHEN))
    )
    creates = ";\n".join(_text(cursor, s) for s in statements)
    digest = sha256(creates.encode()).hexdigest()[:16]
    comments = render_comments(spec.table, f"ledger:{digest}")
    script = ";\n".join([_text(cursor, render_drop(spec.table)), creates, _text(cursor, comments)])
    capture = TableCapture(spec=spec, columns=columns, script=script, digest=digest)
    _rendered[(spec, columns)] = capture
    return capture


def _text(cursor: Cursor, composable: sql.Composable) -> str:
    """A composed statement as text, quoted by the driver of this connection."""
    return str(composable.as_string(cursor.cursor.connection))  # type: ignore[attr-defined]


def render_comments(table: str, comment: str) -> sql.Composable:
    """``COMMENT ON TRIGGER`` for each trigger of the table, naming the rendered version."""
    return sql.SQL("; ").join(
        sql.SQL("COMMENT ON TRIGGER {} ON {} IS {}").format(
            sql.Identifier(name), sql.Identifier(table), sql.Literal(comment)
        )
        for name in TRIGGER_NAMES
    )


def render_drop(table: str) -> sql.Composable:
    """Drop the capture triggers of ``table`` (those that exist)."""
    return sql.SQL("; ").join(
        sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
            sql.Identifier(name), sql.Identifier(table)
        )
        for name in TRIGGER_NAMES
    )
