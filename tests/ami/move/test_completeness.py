"""The dump-diff law, end to end: every row that ``move_project_data --execute`` or
``revert_move --execute`` changes, in any table of the application, is in the ledger with its
exact before and after values, and nothing else is.

Every table of the database but the ledger's own is dumped before and after. Registered tables
are dumped the way the ledger records a row (secrets as fingerprints, floats as text);
replaying the move's entries over the first dump must give the second, and every other table
must not have changed at all.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import connection

import ledger
from ami.main.cached_fields import refresh_project_cached_fields
from ledger import fingerprints
from ledger.capture import _row_json, read_columns
from ledger.dbapi import cursor as ledger_cursor
from ledger.dbapi import sql
from tests.ami.move.commands import move_to, revert
from tests.builders import (
    add_deployment,
    make_collection,
    make_project,
    make_user,
    setup_source,
)

pytestmark = pytest.mark.django_db

_TABLES = """
SELECT c.relname, a.attname FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname NOT LIKE 'ledger%%'
ORDER BY 1
"""


def dump_everything() -> dict[tuple[str, str], dict]:
    """Every row of every application table, as {(table, pk): row}."""
    specs = {spec.table: spec for spec in ledger.registered_tables()}
    rows: dict[tuple[str, str], dict] = {}
    with ledger_cursor(connection) as cursor:
        fingerprints.activate(cursor, required=True)  # secrets as the ledger keeps them
        cursor.execute(_TABLES)
        for table, pk in cursor.fetchall():
            spec = specs.get(table)
            if spec is not None:
                row = _row_json("t", spec, read_columns(cursor, spec))
            else:
                row = sql.SQL("to_jsonb(t)")
            key = sql.Identifier(pk) if pk else sql.SQL("ctid")
            cursor.execute(
                sql.SQL("SELECT t.{}::text, ({})::text FROM {} AS t").format(
                    key, row, sql.Identifier(table)
                )
            )
            for pk_value, value in cursor.fetchall():
                rows[(table, pk_value)] = json.loads(value, parse_float=Decimal)
    return rows


def replay(before: dict, move_id: int) -> dict:
    """``before`` with the move's entries applied, each checked against what it replaces."""
    state = {key: dict(row) for key, row in before.items()}
    for entry in ledger.entries(move_id):
        key = (entry.table, entry.pk)
        if entry.op == "I":
            assert key not in state, f"entry {entry.id} inserts an existing row {key}"
            state[key] = dict(entry.after)
        elif entry.op == "D":
            assert state.pop(key) == entry.before, f"entry {entry.id}: another row was deleted"
        else:
            row = state[key]
            for column, value in entry.before.items():
                assert row[column] == value, f"entry {entry.id}: {key}.{column} was not {value}"
            row.update(entry.after)
    return state


@pytest.fixture
def world():
    src = setup_source(4, with_identifications=True)
    staying = add_deployment(src.project, "Dep B", 2, data_source=src.s3, device=src.device)
    make_collection(src.project, [*src.images, *staying.images], name="Mixed")
    src.project.default_filters_score_threshold = 0.75
    src.project.save()
    target = make_project("Target", make_user("target-owner"))
    add_deployment(target, "Dep T", 2, occurrences=True, taxon=src.species)
    refresh_project_cached_fields([src.project.pk, target.pk])  # counts as they are
    return src, target


def test_a_move_and_its_revert_record_every_change_they_make(world):
    src, target = world
    before = dump_everything()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    moved = dump_everything()
    assert moved != before
    assert replay(before, move_id) == moved
    revert(move_id, "--execute", "--reason", "undo")
    reverted = dump_everything()
    revert_id = ledger.models.Move.objects.get(reverts_id=move_id).pk
    assert replay(moved, revert_id) == reverted
    history = {"main_projectsettingsevent", "pghistory_context"}
    assert {k: v for k, v in reverted.items() if k[0] not in history} == {
        k: v for k, v in before.items() if k[0] not in history
    }


def test_a_move_that_recounts_records_the_recount(world):
    src, target = world
    with connection.cursor() as cursor:  # stricter than every score: the target's own
        cursor.execute(  # station counts nothing under the source's filters
            "UPDATE main_project SET default_filters_score_threshold = 0.95 WHERE id = %s",
            [src.project.pk],
        )
    before = dump_everything()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    steps = {s.label: s for s in ledger.read_header(move_id)[0].steps}
    assert steps["[refresh-cached-fields]"].captured_rows > 0
    assert replay(before, move_id) == dump_everything()
