"""What a recording checks at seal time: its capture was in place from start to seal.

At the start of a recording the catalog rows of every captured table are read: each capture
trigger (its oid, tuple position, creating transaction and enabled flag), each column (name,
type, modifier, tuple position) and the table's file. At seal time they are read again; any
difference means a trigger was disabled, dropped or replaced, or a column altered or a table
rewritten, inside the recording (other sessions cannot: the recording holds ROW EXCLUSIVE on
every captured table, which DDL waits for), and the recording refuses to seal.

A catalog row changed and changed back in one transaction keeps its xmin but not its tuple
position (``ctid``), so disabling and re-enabling a trigger is seen too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ledger.capture import TRIGGER_NAMES
from ledger.errors import CaptureBroken

if TYPE_CHECKING:
    from ledger.dbapi import Cursor

_STATE = """
SELECT x.name, c.relfilenode,
    ARRAY(SELECT t.tgname || ' ' || t.oid || ' ' || t.ctid::text || ' ' || t.xmin::text
                 || ' ' || t.tgenabled::text
          FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = ANY(%s) ORDER BY t.tgname),
    ARRAY(SELECT a.attnum || ' ' || a.attname || ' ' || a.atttypid || ' ' || a.atttypmod
                 || ' ' || a.attisdropped || ' ' || a.ctid::text
          FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 ORDER BY a.attnum)
FROM unnest(%s::text[]) AS x(name)
LEFT JOIN pg_class c ON c.oid = to_regclass(quote_ident(x.name))
"""

State = Mapping[str, tuple[object, tuple[str, ...], tuple[str, ...]]]


def read_state(
    cursor: Cursor, tables: Iterable[str]
) -> dict[str, tuple[object, tuple[Any, ...], tuple[Any, ...]]]:
    """The catalog state of each table's capture: file, triggers, columns."""
    cursor.execute(_STATE, [list(TRIGGER_NAMES), sorted(tables)])
    return {
        name: (filenode, tuple(triggers or ()), tuple(columns or ()))
        for name, filenode, triggers, columns in cursor.fetchall()
    }


def check_unchanged(before: State, after: State) -> None:
    """Raise when any table's capture or columns differ between the two readings.

    Raises:
        CaptureBroken: naming the table and what changed.
    """
    for table in sorted(before):
        old, new = before[table], after.get(table)
        if new == old:
            continue
        if new is None or new[0] is None:
            what = "the table was dropped"
        elif len(new[1]) < len(old[1]) or any(t.endswith(" D") for t in new[1]):
            what = "a capture trigger was dropped or disabled"
        elif new[1] != old[1]:
            what = "a capture trigger was disabled, dropped or replaced"
        elif new[2] != old[2]:
            what = "its columns were altered"
        else:
            what = "the table was rewritten"
        raise CaptureBroken(
            f"capture of {table} was not in place for the whole recording ({what}): "
            "the recording was rolled back and nothing was written; do not alter captured "
            "tables or their triggers inside a recording"
        )
