"""Plain builders for the ledger tests: test tables, dumps, and a superuser purge."""

from __future__ import annotations

import json
from contextlib import contextmanager
from decimal import Decimal

from django.db import connection, transaction

import ledger

TABLES = ("ledger_t_parent", "ledger_t_child", "ledger_t_link", "ledger_t_note")

_CREATE = """
CREATE TABLE ledger_t_parent (id bigserial PRIMARY KEY, name text NOT NULL);
CREATE TABLE ledger_t_child (
    id bigserial PRIMARY KEY,
    parent_id bigint REFERENCES ledger_t_parent(id) ON DELETE CASCADE,
    name text,
    secret text,
    ratio double precision,
    score numeric,
    tags jsonb,
    seen timestamptz
);
CREATE TABLE ledger_t_link (
    id bigserial PRIMARY KEY,
    parent_id bigint NOT NULL REFERENCES ledger_t_parent(id) ON DELETE CASCADE,
    child_id bigint NOT NULL REFERENCES ledger_t_child(id) ON DELETE CASCADE,
    UNIQUE (parent_id, child_id)
);
CREATE TABLE ledger_t_note (
    code text PRIMARY KEY,
    child_id bigint REFERENCES ledger_t_child(id) ON DELETE SET NULL,
    body text
);
"""


def record(sql: str, reason: str = "r") -> ledger.Recording:
    """Run one statement as a sealed move of one step (operator "7"), in its own atomic block."""
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason=reason, operator="7") as rec,
        rec.step("[s]"),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    return rec


def execute(sql: str, params=()) -> None:
    """Run one statement on the test's connection."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def create_tables(register: bool = True) -> None:
    """Create the four test tables and register them (the child's ``secret`` is a secret)."""
    with connection.cursor() as cursor:
        cursor.execute(_CREATE)
    if register:
        register_tables()


def register_tables() -> None:
    """Register the test tables with the ledger."""
    ledger.register_table("ledger_t_parent", label="tests.Parent")
    ledger.register_table("ledger_t_child", secret_columns=("secret",), label="tests.Child")
    ledger.register_table("ledger_t_link", label="tests.Link")
    ledger.register_table("ledger_t_note", pk="code", label="tests.Note")


def unregister_tables() -> None:
    """Forget the test tables."""
    for table in TABLES:
        ledger.unregister_table(table)


def drop_tables() -> None:
    """Drop the test tables (for transactional tests, whose DDL is committed)."""
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS " + ", ".join(TABLES) + " CASCADE")


def seed(parents: int = 3, children: int = 10) -> None:
    """Some parents, children spread over them, links and notes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_t_parent (name) SELECT 'p' || g FROM generate_series(1, %s) g",
            [parents],
        )
        cursor.execute(
            "INSERT INTO ledger_t_child (parent_id, name, secret, score, tags) "
            "SELECT (SELECT min(id) FROM ledger_t_parent) + g %% %s, 'c' || g, 's3cret' || g, "
            "g * 1.5, jsonb_build_object('g', g) FROM generate_series(1, %s) g",
            [parents, children],
        )
        cursor.execute(
            "INSERT INTO ledger_t_link (parent_id, child_id) "
            "SELECT parent_id, id FROM ledger_t_child"
        )
        cursor.execute(
            "INSERT INTO ledger_t_note (code, child_id, body) "
            "SELECT 'n' || id, id, 'note' FROM ledger_t_child"
        )


def dump(tables: tuple[str, ...] = TABLES) -> dict[tuple[str, str], dict]:
    """Every row of the tables as {(table, pk-as-text): row-as-json}."""
    rows = {}
    with connection.cursor() as cursor:
        for table in tables:
            pk = "code" if table == "ledger_t_note" else "id"
            cursor.execute(f"SELECT {pk}::text, to_jsonb(t)::text FROM {table} t")
            for key, row in cursor.fetchall():
                rows[(table, key)] = json.loads(row, parse_float=Decimal)
    return rows


@contextmanager
def superuser_bypass():
    """Switch every ordinary trigger off for this session, as a superuser attacker would."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
    try:
        yield connection
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = origin")


def purge_ledger() -> None:
    """Empty the ledger with the superuser bypass (transactional tests' teardown only)."""
    with superuser_bypass(), connection.cursor() as cursor:
        # The row index references ledger_change: truncated in the same statement.
        cursor.execute(
            "TRUNCATE ledger_row_index, ledger_row_index_done, ledger_change, ledger_step, "
            "ledger_move"
        )
