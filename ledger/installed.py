"""Is the SQL installed in the database the SQL this code renders? (``ledger.E003``, ``E004``)

pgtrigger keeps a hash of each trigger in its comment and reports the triggers whose hash is
not the one the code renders. The ledger's functions, view and protection triggers are
installed by migrations from the templates below; this compares, object by object, what the
database holds with what those templates say, so a migration rolled back (``migrate ledger
0002``) or a function replaced by hand is reported by ``manage.py check --database default``:

- functions: their body (``pg_proc.prosrc``, stored verbatim), ``SECURITY DEFINER``, and for a
  security definer function a fixed ``search_path``;
- the protection triggers: timing, level, events and function (``pg_trigger``), enabled;
- the ``ledger_entry`` view: ``pg_get_viewdef`` of the installed view and of the template's,
  created as a temporary view in a savepoint rolled back at once.

``CURRENT`` lists the templates the code renders now: a new version of a template replaces its
predecessor here in the same change that adds its migration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections, transaction

from ledger.capture import CAPTURE_FUNCTION_V1, ENTRY_VIEW_V1
from ledger.errors import LedgerError
from ledger.protect import PROTECT_V1, SEAL_FUNCTION_V2
from ledger.rowindex import ROW_INDEX_V1

# The templates the installed SQL must match: (module that holds it, SQL).
CURRENT: tuple[tuple[str, str], ...] = (
    ("ledger/capture.py CAPTURE_FUNCTION_V1", CAPTURE_FUNCTION_V1),
    ("ledger/protect.py PROTECT_V1", PROTECT_V1),
    ("ledger/protect.py SEAL_FUNCTION_V2", SEAL_FUNCTION_V2),
    ("ledger/rowindex.py ROW_INDEX_V1", ROW_INDEX_V1),
)
VIEW = ("ledger/capture.py ENTRY_VIEW_V1", ENTRY_VIEW_V1)

_FUNCTION = re.compile(
    r"CREATE (?:OR REPLACE )?FUNCTION (\w+)\(([^)]*)\)(.*?)\bAS \$\$(.*?)\$\$", re.S
)
_TRIGGER = re.compile(
    r"CREATE TRIGGER (\w+) (BEFORE|AFTER) (\w+(?: OR \w+)*) ON (\w+)\s+"
    r"FOR EACH (STATEMENT|ROW) EXECUTE FUNCTION (\w+)\(\)"
)
# pg_trigger.tgtype bits (src/include/catalog/pg_trigger.h).
_ROW, _BEFORE = 1 << 0, 1 << 1
_EVENTS = {"INSERT": 1 << 2, "DELETE": 1 << 3, "UPDATE": 1 << 4, "TRUNCATE": 1 << 5}


@dataclass(frozen=True)
class Function:
    """A function as a template renders it."""

    name: str
    signature: str  # name(types), as to_regprocedure reads it
    body: str
    security_definer: bool
    source: str


@dataclass(frozen=True)
class Trigger:
    """A protection trigger as a template renders it."""

    name: str
    table: str
    tgtype: int
    function: str
    source: str


@dataclass(frozen=True)
class Difference:
    """One object whose installed SQL is not what the code renders."""

    kind: str  # "function", "trigger", "view"
    name: str
    problem: str
    source: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.problem} (the code's is in {self.source})"


def _types(arguments: str) -> str:
    """``move jsonb, steps jsonb`` -> ``jsonb, jsonb``."""
    parts = [a.split(None, 1) for a in arguments.split(",") if a.strip()]
    return ", ".join(p[1].strip() for p in parts)


def functions() -> list[Function]:
    """Every function the current templates create."""
    return [
        Function(
            name=m[1],
            signature=f"{m[1]}({_types(m[2])})",
            body=m[4],
            security_definer="SECURITY DEFINER" in m[3],
            source=source,
        )
        for source, text in CURRENT
        for m in _FUNCTION.finditer(text)
    ]


def triggers() -> list[Trigger]:
    """Every protection trigger the current templates create."""
    found = []
    for source, text in CURRENT:
        for m in _TRIGGER.finditer(text):
            tgtype = (_BEFORE if m[2] == "BEFORE" else 0) | (_ROW if m[5] == "ROW" else 0)
            for event in m[3].split(" OR "):
                tgtype |= _EVENTS[event]
            found.append(Trigger(m[1], m[4], tgtype, m[6], source))
    return found


def _compare_functions(cursor: Any) -> list[Difference]:
    expected = functions()
    cursor.execute(
        "SELECT x, p.prosrc, p.prosecdef, "
        "coalesce(array_to_string(p.proconfig, ','), '') LIKE '%%search_path=%%' "
        "FROM unnest(%s::text[]) AS x LEFT JOIN pg_proc p ON p.oid = to_regprocedure(x)",
        [[f.signature for f in expected]],
    )
    installed = {row[0]: row[1:] for row in cursor.fetchall()}
    found = []
    for f in expected:
        body, secdef, pinned = installed[f.signature]
        problem = None
        if body is None:
            problem = "missing"
        elif body != f.body:
            problem = "its body differs"
        elif secdef != f.security_definer:
            problem = "SECURITY DEFINER " + ("was removed" if f.security_definer else "was added")
        elif f.security_definer and not pinned:
            problem = "its search_path is not fixed"
        if problem:
            found.append(Difference("function", f.signature, problem, f.source))
    return found


def _compare_triggers(cursor: Any) -> list[Difference]:
    expected = triggers()
    cursor.execute(
        "SELECT c.relname, t.tgname, t.tgtype, t.tgfoid::regproc::text, t.tgenabled <> 'D' "
        "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.oid = ANY(ARRAY(SELECT to_regclass(quote_ident(x)) FROM unnest(%s::text[]) x)) "
        "AND t.tgname = ANY(%s)",
        [sorted({t.table for t in expected}), sorted({t.name for t in expected})],
    )
    installed = {(r[0], r[1]): r[2:] for r in cursor.fetchall()}
    found = []
    for t in expected:
        got = installed.get((t.table, t.name))
        problem = None
        if got is None:
            problem = "missing"
        elif (got[0], got[1]) != (t.tgtype, t.function):
            problem = "its timing, events or function differ"
        elif not got[2]:
            problem = "disabled"
        if problem:
            found.append(Difference("trigger", f"{t.name} on {t.table}", problem, t.source))
    return found


def _compare_view(alias: str, cursor: Any) -> list[Difference]:
    source, text = VIEW
    cursor.execute("SELECT pg_get_viewdef(to_regclass('ledger_entry'))")
    installed = cursor.fetchone()[0]
    if installed is None:
        return [Difference("view", "ledger_entry", "missing", source)]
    rendered = text.replace("CREATE VIEW ledger_entry AS", "CREATE TEMP VIEW ledger_rendered AS")
    try:
        with transaction.atomic(using=alias):
            cursor.execute(rendered)
            cursor.execute("SELECT pg_get_viewdef('ledger_rendered'::regclass)")
            expected = cursor.fetchone()[0]
            transaction.set_rollback(True, using=alias)
    except DatabaseError:  # pragma: no cover - a read-only standby cannot create it
        return []
    if installed != expected:
        return [Difference("view", "ledger_entry", "its definition differs", source)]
    return []


def differences(alias: str = "default") -> list[Difference]:
    """Every ledger function, protection trigger or view not as the code renders it."""
    with connections[alias].cursor() as cursor:
        return (
            _compare_functions(cursor) + _compare_triggers(cursor) + _compare_view(alias, cursor)
        )


def unapplied_migrations(alias: str = "default") -> list[str]:
    """The ledger's migrations not applied to this database, in order."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(connections[alias], ignore_no_migrations=True)
    applied = loader.applied_migrations or {}
    missing = []
    for leaf in loader.graph.leaf_nodes("ledger"):
        for node in loader.graph.forwards_plan(leaf):
            if node[0] == "ledger" and node not in applied and node[1] not in missing:
                missing.append(node[1])
    return missing


# Aliases whose ledger migrations were all found applied, in this process. ``post_migrate``
# clears it: a ``migrate ledger <previous>`` in the same process is seen again.
_current: set[str] = set()


def forget_checked(**_kwargs: object) -> None:
    """Check again next time (connected to ``post_migrate``)."""
    _current.clear()


def require_current(alias: str = "default") -> None:
    """Refuse to read or write the ledger of a database whose ledger migrations are not all
    applied: its tables, seal function or view are older than this code, so a move could be
    sealed without fields its digest covers, or a read fail on a missing column. Checked once
    per process and database.

    Raises:
        LedgerError: a ledger migration is not applied (names them, says to migrate).
    """
    if alias in _current:
        return
    missing = unapplied_migrations(alias)
    if missing:
        raise LedgerError(
            f"this database's ledger is older than this code (migrations {', '.join(missing)} "
            "of the ledger are not applied): run `manage.py migrate ledger` first"
        )
    _current.add(alias)
