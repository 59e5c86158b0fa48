"""New data found by reference, not by clock: rows that point at what a move moved or cloned.

A row that came after a move and depends on the moved state references a moved row (one the
move re-tagged with a project) through a foreign key, and was not written by the move itself.
(One that references a clone the move inserted is refused by the ledger's own check that no
row still references a row the revert deleted.) The foreign keys are read from the catalog
(``pg_constraint``, single-column keys), so a new table or key is covered without code:

- a referencing table with a ``project_id`` is new data when its row is in the project the
  revert takes the data from (a row of that project cannot have pointed at the moved rows
  before the move, which were in the other one): a new event or capture on a moved deployment,
  a project-level job pointing at a moved capture through ``source_image_single``;
- a referencing table without one (identifications, detections) inherits its project from
  what it references, so "new" needs a reference point in time that is not a clock: the id
  watermarks the move records at its start (``watermarks`` in its arguments, taken under the
  move's locks); for a move recorded before watermarks, ``created_at`` after the move.

What the move touched comes from ``ledger_change`` directly (its ``pks`` arrays), copied once
per revert into this module's own analysed temp table, so every test is a hash (anti-)join
whatever the size of the move; no key of a moved row is ever held in Python.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from django.db import connection

from ami.move.sql import rows as _rows

SAMPLE = 5

# Referenced tables left to the ledger: rows pointing at a project the revert deletes are
# found by the engine's own "rows still referencing a deleted row" check.
_NOT_REFERENCED = ("main_project",)
# Referencing tables handled elsewhere: links of moved captures to collections are a conflict
# of their own (``_FOREIGN_LINKS`` in ``ami.move.revert``).
_NOT_REFERENCING = ("main_sourceimagecollection_images",)
# Tables whose rows a move re-tags or clones: what the watermarks are taken for.
MOVED_TABLES = (
    "main_deployment",
    "main_event",
    "main_sourceimage",
    "main_occurrence",
    "jobs_job",
    "main_device",
    "main_site",
    "main_s3storagesource",
    "main_sourceimagecollection",
)

# The keys a move touched, one row per (table, key); ``moved``: re-tagged by it (its project
# changed); ``before_project``: the project it had before the move (what a revert restores).
# Rows pointing at a clone the move inserted are found by the ledger's own check after the
# replay ("rows still reference rows the revert deleted"), named the same way in a dry run
# and an execute, so they are not scanned twice. One sort picks, per key, its first change
# that re-tagged it (an update's before and after name the same columns), else any change:
# half the time of a grouping with aggregates. The key index is built after the first,
# sorted insert, which costs less than keeping it up to date row by row.
_KEYS_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS ami_move_keys (
    table_name text NOT NULL, pk text NOT NULL, moved boolean NOT NULL, before_project text
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS ami_move_keys_of (
    move_id bigint NOT NULL, table_name text
) ON COMMIT DROP
"""
# A statement of its own: psycopg 3 gives the first result of several statements, not the last.
# ``table_name`` NULL: every table of the move is loaded.
_LOADED = "SELECT table_name FROM pg_temp.ami_move_keys_of WHERE move_id = %(move)s"
_RESET = """
DROP INDEX IF EXISTS pg_temp.ami_move_keys_key;
TRUNCATE pg_temp.ami_move_keys, pg_temp.ami_move_keys_of
"""
_INSERT_KEYS = """
INSERT INTO pg_temp.ami_move_keys
SELECT DISTINCT ON (c.table_name, u.pk) c.table_name, u.pk, c.moved, c.before_project
FROM (SELECT id, table_name, pks, op = 'U' AND (before -> 'project_id') IS NOT NULL AS moved,
             CASE WHEN op = 'U' THEN before ->> 'project_id' END AS before_project
      FROM ledger_change WHERE move_id = %(move)s
      AND (%(tables)s::text[] IS NULL OR table_name = ANY(%(tables)s::text[]))
      AND NOT table_name = ANY(%(loaded)s::text[])) AS c
CROSS JOIN LATERAL unnest(c.pks) AS u(pk)
ORDER BY c.table_name, u.pk, NOT c.moved, c.id;
CREATE UNIQUE INDEX IF NOT EXISTS ami_move_keys_key ON pg_temp.ami_move_keys (table_name, pk);
ANALYZE pg_temp.ami_move_keys
"""
_MARK_LOADED = """
INSERT INTO pg_temp.ami_move_keys_of
SELECT %(move)s, t FROM unnest(coalesce(%(tables)s::text[], ARRAY[NULL]::text[])) AS t
"""

# Single-column foreign keys from tables with an integer ``id`` to ``%(referenced)s``.
_FOREIGN_KEYS = """
SELECT src.relname, a.attname, dst.relname,
    EXISTS (SELECT 1 FROM pg_attribute p WHERE p.attrelid = src.oid
            AND p.attname = 'project_id' AND NOT p.attisdropped),
    EXISTS (SELECT 1 FROM pg_attribute p WHERE p.attrelid = src.oid
            AND p.attname = 'created_at' AND NOT p.attisdropped)
FROM pg_constraint c
JOIN pg_class src ON src.oid = c.conrelid JOIN pg_class dst ON dst.oid = c.confrelid
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND array_length(c.conkey, 1) = 1
AND src.relnamespace = to_regnamespace(current_schema())
AND dst.relname = ANY(%(referenced)s) AND NOT dst.relname = ANY(%(not_referenced)s)
AND NOT src.relname = ANY(%(not_referencing)s) AND src.relname NOT LIKE 'ledger\\_%%'
AND EXISTS (SELECT 1 FROM pg_attribute p WHERE p.attrelid = src.oid AND p.attname = 'id'
            AND p.atttypid IN ('int4'::regtype, 'int8'::regtype) AND NOT p.attisdropped)
ORDER BY src.relname, a.attname
"""


@dataclass(frozen=True)
class Referencing:
    """A table with keys to moved or cloned rows: ``links`` are (column, referenced table)."""

    table: str
    links: tuple[tuple[str, str], ...]
    has_project: bool
    has_created_at: bool

    @property
    def columns(self) -> str:
        return ", ".join(f"{self.table}.{column}" for column, _ in self.links)


def referencing_tables(referenced: Iterable[str]) -> list[Referencing]:
    """Every table with a single-column foreign key to one of ``referenced``, from the catalog."""
    found: dict[str, Referencing] = {}
    params = {
        "referenced": sorted(referenced),
        "not_referenced": list(_NOT_REFERENCED),
        "not_referencing": list(_NOT_REFERENCING),
    }
    for table, column, target, has_project, has_created in _rows(_FOREIGN_KEYS, params):
        known = found.get(table)
        links = (known.links if known else ()) + ((column, target),)
        found[table] = Referencing(table, links, has_project, has_created)
    return list(found.values())


def watermarks() -> dict[str, int]:
    """The highest id of every table without a project that references a table a move
    re-tags or clones: taken by the move under its locks, stored in its arguments."""
    tables = [r.table for r in referencing_tables(MOVED_TABLES) if not r.has_project]
    if not tables:
        return {}
    sql = " UNION ALL ".join(f"SELECT '{t}', coalesce(max(id), 0) FROM {t}" for t in tables)
    return {table: int(top) for table, top in _rows(sql, {})}


def load_keys(move_id: int, tables: Collection[str] | None = None) -> list[str]:
    """Copy what ``move_id`` touched into ``pg_temp.ami_move_keys``: in ``tables``, or in
    every table. Each table once per transaction (the scans, the carry and the checks after
    the replay share it), so a check that needs the keys of a few small tables does not pay
    for the captures'.

    Returns:
        The tables whose rows the move re-tagged, among those loaded so far.
    """
    wanted = None if tables is None else sorted(tables)
    with connection.cursor() as cursor:
        cursor.execute(_KEYS_TABLE)
        cursor.execute(_LOADED, {"move": move_id})
        loaded = [t for (t,) in cursor.fetchall()]
        if not loaded:
            cursor.execute(_RESET)  # another move's keys, or none
        if None not in loaded and (wanted is None or set(wanted) - set(loaded)):
            params = {"move": move_id, "tables": wanted, "loaded": loaded}
            cursor.execute(_INSERT_KEYS, params)
            cursor.execute(_MARK_LOADED, {"move": move_id, "tables": wanted})
        cursor.execute("SELECT DISTINCT table_name FROM pg_temp.ami_move_keys WHERE moved")
        return [t for (t,) in cursor.fetchall()]


def _refers(ref: Referencing) -> str:
    return " OR ".join(
        f"x.{column}::text IN (SELECT k.pk FROM pg_temp.ami_move_keys k "
        f"WHERE k.table_name = '{target}' AND k.moved)"
        for column, target in ref.links
    )


def _not_written(ref: Referencing) -> str:
    return (
        "NOT EXISTS (SELECT 1 FROM pg_temp.ami_move_keys w "
        f"WHERE w.table_name = '{ref.table}' AND w.pk = x.id::text)"
    )


def new_rows_where(ref: Referencing, marks: dict[str, int] | None) -> str | None:
    """The condition on ``x`` (a row of ``ref.table``) that makes it new data, or None when
    the table offers no way to tell (no project, no watermark, no ``created_at``). Parameters:
    ``%(to)s`` the project the data leave, ``%(at)s`` when the move was committed."""
    if ref.has_project:
        new = "x.project_id = %(to)s"
    elif marks is not None and ref.table in marks:
        new = f"x.id > {int(marks[ref.table])}"
    elif ref.has_created_at:
        new = "x.created_at > %(at)s"
    else:
        return None
    return f"{new} AND ({_refers(ref)}) AND {_not_written(ref)}"


def count_sql(ref: Referencing, where: str) -> str:
    return (
        f"SELECT count(*), (array_agg(x.id ORDER BY x.id))[1:%(n)s] FROM {ref.table} x "
        f"WHERE {where}"
    )
