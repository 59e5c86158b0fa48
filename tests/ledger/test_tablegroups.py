"""Change groups decoded as their table's struct (``ledger.tablegroups``), or as raw groups
where they do not decode so: the same groups either way."""

from __future__ import annotations

import msgspec
import pytest
from django.db import connection, transaction

import ledger
from ledger.queries import Group, RawGroup, iter_groups, read_header
from ledger.tablegroups import TableGroup, iter_table_groups

# Every test runs on groups read whole and on groups read a window at a time.
pytestmark = pytest.mark.usefixtures("key_windows")


def _record(*statements: str) -> int:
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        rec.step("[s]"),
        connection.cursor() as cursor,
    ):
        for sql in statements:
            cursor.execute(sql)
    return rec.move_id


@pytest.fixture
def move(seeded):
    """A move of single-row groups (an update of every child, an insert, deletes) and a group
    of three rows, over three tables."""
    return _record(
        "UPDATE ledger_t_child SET name = 'same' "
        "WHERE id IN (SELECT id FROM ledger_t_child ORDER BY id LIMIT 3)",
        "UPDATE ledger_t_child SET name = 'again' WHERE name = 'same'",
        "INSERT INTO ledger_t_parent (name) VALUES ('z')",
        "DELETE FROM ledger_t_note WHERE code IN (SELECT code FROM ledger_t_note LIMIT 2)",
    )


def _fields(group: Group) -> tuple[object, ...]:
    return (*msgspec.structs.astuple(msgspec.structs.replace(group, pks=[])), list(group.pks))


def _relisted(move_id: int, change) -> object:
    header, _ = read_header(move_id)
    tables = {
        table: {**snapshot, "columns": dict.fromkeys(change(table, sorted(snapshot["columns"])))}
        for table, snapshot in header.tables.items()
    }
    return msgspec.structs.replace(header, tables=tables)


def test_every_group_decodes_as_its_table_s_group_and_equals_the_plain_one(move):
    header, _ = read_header(move)
    groups = list(iter_table_groups(header))
    assert groups
    assert all(isinstance(group, TableGroup) for group in groups)
    assert {len(group.pks) for group in groups} == {1, 3}
    assert {group.table for group in groups} == {
        "ledger_t_child",
        "ledger_t_parent",
        "ledger_t_note",
    }
    assert [_fields(group.decoded()) for group in groups] == [
        _fields(group) for group in iter_groups(move)
    ]


@pytest.mark.parametrize(
    "listed",
    ["a column less", "no child table", "a column msgspec cannot name"],
)
def test_a_group_its_header_does_not_describe_decodes_raw_and_the_same(move, listed):
    change = {
        "a column less": lambda table, columns: [c for c in columns if c != "name"],
        "no child table": lambda table, columns: [] if table == "ledger_t_child" else columns,
        "a column msgspec cannot name": lambda table, columns: [
            *columns,
            *(['say "hi"'] if table == "ledger_t_child" else []),
        ],
    }[listed]
    header = _relisted(move, change)
    groups = list(iter_table_groups(header))
    raw = [group for group in groups if isinstance(group, RawGroup)]
    # Every child row and parent row holds a name; a note has none.
    assert {group.table for group in raw} >= {"ledger_t_child"}
    assert all(isinstance(group, TableGroup) for group in groups if group.table == "ledger_t_note")
    assert all(
        isinstance(group, TableGroup) for group in groups if group.table == "ledger_t_parent"
    ) == (listed != "a column less")
    assert [_fields(group.decoded()) for group in groups] == [
        _fields(group) for group in iter_groups(move)
    ]
