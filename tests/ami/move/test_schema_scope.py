"""The schema check compares the columns of exactly the tables a move reads or writes.

Antenna's real schema differs from these models in tables a move never names
(``ml_algorithmcategorymap.labels`` is a ``varchar(255)[]`` there, JSON here): such a
difference must not refuse a move, and a difference in a table it does name must.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection

from ami.main.demo import generate_demo_data
from ami.move import schema
from tests.ami.move.commands import move, revert

pytestmark = pytest.mark.django_db


def _named_tables(run) -> set[str]:
    """The tables of the domain apps named in the SQL that ``run()`` sends."""
    tables = sorted(schema.expected_models(), key=len, reverse=True)
    named: set[str] = set()

    def wrapper(execute, sql, params, many, context):
        text = sql if isinstance(sql, str) else repr(sql)
        named.update(t for t in tables if re.search(rf"(?<![\w$]){t}(?![\w$])", text))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        run()
    return named


def test_a_move_its_revert_and_a_created_target_name_only_the_compared_tables():
    demo = generate_demo_data("tiny", seed=2)
    args = ("--source-project", str(demo.source_project_id), "--deployment-ids")
    deployments = ",".join(map(str, demo.moved_deployment_ids))

    def run() -> None:
        moved = move(*args, deployments, "--target-project", str(demo.target_project_id))
        revert(moved)  # the dry run rehearses it
        revert(moved, "--execute", "--reason", "undo")
        created = move(*args, deployments, "--create-project", "Split")
        revert(created, "--execute", "--reason", "undo")

    named = _named_tables(run)
    assert named <= schema.compared_tables(), sorted(named - schema.compared_tables())
    assert set(schema.READ_TABLES) <= named  # each table it only reads is read


def test_a_table_the_move_never_names_may_differ_a_table_it_names_may_not():
    assert schema.differences() == []
    with connection.cursor() as cursor:
        # As in Antenna: an array of labels, not JSON.
        cursor.execute(
            "ALTER TABLE ml_algorithmcategorymap ALTER COLUMN labels TYPE varchar(255)[] "
            "USING ARRAY[]::varchar(255)[]"
        )
    assert "ml_algorithmcategorymap" not in schema.compared_tables()
    assert schema.differences() == []
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE main_taxon ALTER COLUMN name TYPE varchar(20)")
    assert schema.differences() == [
        "main_taxon.name is character varying(20), shorter than character varying(255)"
    ]
