"""Does the database hold the schema the move was written for? Checked before every move.

A move reads and writes Antenna's tables by name, with set-based SQL. On a database this
project did not migrate (an attached Antenna database, see docs/antenna.md), a column that is
missing, of another type, shorter, or NOT NULL without a default where the move inserts rows,
or a foreign key that is missing or acts on delete, would fail half way or, worse, write
wrong values. The check compares every table the move reads or writes with the Django models
(columns, types, nullability) and the foreign keys of every table of the domain apps (a delete
action in the database acts on rows the move or its revert deletes, whoever reads the table),
and lists every difference; the move refuses while there is one. Tables the move never names
are not compared column by column: Antenna may change them (``ml_algorithmcategorymap.labels``
is an array there) without concerning a move.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.apps import apps
from django.db import connection, models

from ami.move.tracking import MOVE_TABLES

# The apps whose tables the move reads (plan, checks) or writes (steps).
DOMAIN_APPS = ("main", "ml", "jobs", "exports", "users", "labelstudio")
# Tables the move reads but never writes: the taxa and taxa lists it links, the users it adds.
# With MOVE_TABLES, every table a move, a --create-project move or a revert names in its SQL
# (tests/ami/move/test_schema_scope.py); their columns are compared.
READ_TABLES = ("main_taxalist", "main_taxalist_taxa", "main_taxon", "users_user")

_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
    a.atthasdef OR a.attidentity <> ''
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.oid = ANY(ARRAY(SELECT to_regclass(quote_ident(t)) FROM unnest(%s::text[]) t))
AND a.attnum > 0 AND NOT a.attisdropped
"""
_FOREIGN_KEYS = """
SELECT c.relname, a.attname, r.relname, ra.attname, con.confdeltype
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_class r ON r.oid = con.confrelid
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[1]
WHERE con.contype = 'f' AND cardinality(con.conkey) = 1
AND c.oid = ANY(ARRAY(SELECT to_regclass(quote_ident(t)) FROM unnest(%s::text[]) t))
"""
_DELETE_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}
_INTEGERS = {"smallint", "integer", "bigint"}
_ALIASES = {"varchar": "character varying", "timestamptz": "timestamp with time zone"}


@lru_cache(maxsize=1)
def expected_models() -> dict[str, type[models.Model]]:
    """Table -> model, for every table of the domain apps and every table the move writes."""
    from pghistory.models import Event

    written = {table for table, _label, _secrets in MOVE_TABLES}
    found = {}
    for model in apps.get_models(include_auto_created=True):
        if issubclass(model, Event):
            continue  # history a tracker writes (absent from an attached Antenna database)
        table = model._meta.db_table
        if model._meta.app_label in DOMAIN_APPS or table in written:
            found[table] = model
    return found


def compared_tables() -> frozenset[str]:
    """The tables whose columns the check compares: those the move reads or writes."""
    return frozenset({table for table, _label, _secrets in MOVE_TABLES} | set(READ_TABLES))


def _normal(type_: str) -> str:
    type_ = type_.replace(", ", ",")
    for alias, full in _ALIASES.items():
        type_ = re.sub(rf"^{alias}\b", full, type_)
    return type_


def _type_difference(expected: str, live: str) -> str | None:
    expected, live = _normal(expected), _normal(live)
    if expected == live or {expected, live} <= _INTEGERS or {expected, live} <= {"text"}:
        return None
    size = re.fullmatch(r"character varying\((\d+)\)", expected)
    if size and (live == "text" or live == "character varying"):
        return None
    live_size = re.fullmatch(r"character varying\((\d+)\)", live)
    if size and live_size:
        shorter = int(live_size.group(1)) < int(size.group(1))
        return f"is {live}, shorter than {expected}" if shorter else None
    return f"is {live}, expected {expected}"


def _column_differences(model, live: dict[str, tuple[str, bool, bool]]) -> list[str]:
    table, out = model._meta.db_table, []
    wanted = {}
    for field in model._meta.local_concrete_fields:
        wanted[field.column] = field
        if field.column not in live:
            out.append(f"{table}.{field.column} is missing")
            continue
        db_type = field.db_type(connection) or ""
        if db_type and (why := _type_difference(db_type, live[field.column][0])):
            out.append(f"{table}.{field.column} {why}")
    written = {t for t, _l, _s in MOVE_TABLES}
    for column, (_type, not_null, has_default) in sorted(live.items()):
        if column not in wanted and not_null and not has_default and table in written:
            out.append(
                f"{table}.{column} is NOT NULL without a default, which the move does not fill"
            )
    return out


def _key_differences(model, keys: dict[str, tuple[str, str, str]]) -> list[str]:
    table, out = model._meta.db_table, []
    for field in model._meta.local_concrete_fields:
        if not (field.is_relation and field.many_to_one and field.db_constraint):
            continue
        target = field.target_field
        want = (target.model._meta.db_table, target.column)
        found = keys.get(field.column)
        if found is None:
            out.append(
                f"{table}.{field.column} has no foreign key to {want[0]}({want[1]}): the "
                "database would not keep it consistent"
            )
        elif found[:2] != want:
            out.append(f"{table}.{field.column} references {found[0]}({found[1]}), not {want[0]}")
        elif found[2] != "NO ACTION":
            out.append(
                f"{table}.{field.column} deletes with {found[2]} in the database, expected NO "
                "ACTION (Django applies on_delete itself)"
            )
    return out


def differences() -> list[str]:
    """Every difference between the database and what the move expects, in table order."""
    tables = expected_models()
    with connection.cursor() as cursor:
        cursor.execute(_COLUMNS, [sorted(tables)])
        columns: dict[str, dict[str, tuple[str, bool, bool]]] = {}
        for table, column, type_, not_null, has_default in cursor.fetchall():
            columns.setdefault(table, {})[column] = (type_, not_null, has_default)
        cursor.execute(_FOREIGN_KEYS, [sorted(tables)])
        keys: dict[str, dict[str, tuple[str, str, str]]] = {}
        for table, column, target, target_column, action in cursor.fetchall():
            keys.setdefault(table, {})[column] = (target, target_column, _DELETE_ACTIONS[action])
    out, compared = [], compared_tables()
    for table, model in sorted(tables.items()):
        if table not in columns:
            if table in compared:
                out.append(f"table {table} is missing")
            continue
        if table in compared:
            out += _column_differences(model, columns[table])
        out += _key_differences(model, keys.get(table, {}))
    return out
