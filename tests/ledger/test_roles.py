"""The ledger against its own application: a role that is neither a superuser nor the ledger's
owner cannot change, disable, drop or replace anything of the ledger, and still records, seals,
reverts and verifies.

Everything here runs inside the test's transaction (roles and ownership included) and is
rolled back with it.
"""

from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.state import ProjectState

import ledger
from ledger.checks import check_ledger_objects
from ledger.registry import TableSpec
from ledger.roles import RoleSetupError, inspect, setup_roles
from tests.ledger import builders

OWNER = f"ledger_test_owner_{os.getpid()}"
APP = f"ledger_roles_app_{os.getpid()}"


@contextmanager
def as_role(role: str):
    builders.execute(f"SET ROLE {role}")
    try:
        yield
    finally:
        builders.execute("RESET ROLE")


@pytest.fixture
def separated(seeded, monkeypatch):
    """The application role owns the application's tables (it ran their migrations), the
    ledger belongs to another role, and the application records only the test tables."""
    builders.execute(f"CREATE ROLE {APP} NOLOGIN NOSUPERUSER")
    builders.execute(
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {APP}"
    )  # django_migrations, ...
    for table in builders.TABLES:
        builders.execute(f"ALTER TABLE {table} OWNER TO {APP}")
    setup_roles(OWNER, [APP])
    specs = tuple(spec for spec in ledger.registered_tables() if spec.table in builders.TABLES)
    monkeypatch.setattr("ledger.context.registered_tables", lambda: specs)
    return specs


REFUSED = [
    ("UPDATE ledger_move SET reason = 'rewritten'", "permission denied for table ledger_move"),
    ("DELETE FROM ledger_move", "permission denied for table ledger_move"),
    ("TRUNCATE ledger_move CASCADE", "permission denied"),
    ("UPDATE ledger_step SET captured_rows = 0", "permission denied for table ledger_step"),
    ("DELETE FROM ledger_step", "permission denied for table ledger_step"),
    ("TRUNCATE ledger_step CASCADE", "permission denied"),
    ("UPDATE ledger_change SET op = 'I'", "permission denied for table ledger_change"),
    ("DELETE FROM ledger_change", "permission denied for table ledger_change"),
    ("TRUNCATE ledger_change", "permission denied"),
    ("UPDATE ledger_entry SET op = 'I'", "cannot update view|permission denied"),
    ("DELETE FROM ledger_entry", "cannot delete from view|permission denied"),
    (
        "SET LOCAL pgtrigger.ignore = '{ledger_append_only}'; UPDATE ledger_move SET reason = 'x'",
        "permission denied for table ledger_move",
    ),
    ("ALTER TABLE ledger_move DISABLE TRIGGER ledger_append_only", "must be owner"),
    ("ALTER TABLE ledger_move DISABLE TRIGGER ALL", "must be owner"),
    ("DROP TRIGGER ledger_append_only ON ledger_move", "must be owner"),
    ("DROP TABLE ledger_change", "must be owner"),
    ("ALTER TABLE ledger_move OWNER TO CURRENT_USER", "must be owner"),
    (
        "CREATE OR REPLACE FUNCTION ledger_fingerprint(value text) RETURNS text "
        "LANGUAGE sql AS $$ SELECT value $$",
        "must be owner of function|permission denied for schema public",
    ),
    (
        "DROP FUNCTION ledger_seal_write(jsonb, jsonb, bigint[], bigint[], text[], bigint)",
        "must be owner of function",
    ),
    (
        "INSERT INTO ledger_move (id, kind, command, arguments, reason, operator, started_at, "
        "committed_at, schema_fingerprint, tables, context_id, entry_count, entries_root, "
        "digest) VALUES (99, 'move', 'c', '{}', 'TICKET-99', 'alice', now(), now(), '', '{}', "
        "gen_random_uuid(), 0, '', 'x')",
        "permission denied",
    ),
    ("SET session_replication_role = replica", "permission denied"),
]


@pytest.mark.parametrize(("statement", "message"), REFUSED)
def test_the_application_role_cannot_change_the_ledger(separated, statement, message):
    builders.record("UPDATE ledger_t_child SET name = 'sealed'")
    builders.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with as_role(APP), pytest.raises(DatabaseError, match=message), transaction.atomic():
        builders.execute(statement)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), min(reason) FROM ledger_move")
        assert cursor.fetchone() == (1, "r")


def test_granted_writes_and_pgtriggers_ignore_still_meet_the_triggers(separated, app_role):
    builders.record("UPDATE ledger_t_child SET name = 'sealed'")
    # The ledger's protection is no pgtrigger trigger: its ignore setting switches nothing off.
    with (
        app_role(grant_writes=True),
        pytest.raises(DatabaseError, match="append-only, UPDATE is refused"),
        transaction.atomic(),
    ):
        builders.execute(
            "SET LOCAL pgtrigger.ignore = '{ledger_append_only,pgtrigger_append_only_d1fe5}'; "
            "UPDATE ledger_move SET reason = 'rewritten'"
        )


def test_the_application_role_records_reverts_and_verifies(separated):
    with as_role(APP):
        before = builders.dump()
        move = builders.record("UPDATE ledger_t_child SET name = 'moved', parent_id = 1")
        assert move.entry_count == 10
        report = ledger.revert(move.move_id, execute=True, reason="undo", operator="7")
        assert report.ok
        assert builders.dump() == before
        assert ledger.verify().ok
        assert inspect().write_privileges == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_move")
        assert cursor.fetchone()[0] == 2


def test_the_seal_function_refuses_a_move_that_does_not_extend_the_chain(separated):
    move = builders.record("UPDATE ledger_t_child SET name = 'sealed'")
    forged = (
        '{"id": %d, "kind": "move", "command": "c", "arguments": {}, "reason": "r", '
        '"operator": "o", "started_at": "2026-01-01T00:00:00Z", '
        '"committed_at": "2026-01-01T00:00:00Z", "schema_fingerprint": "", "tables": {}, '
        '"context_id": "00000000-0000-0000-0000-000000000000", "entry_count": 0, '
        '"entries_root": "", "digest": "d%d", "prev_digest": %s}'
    )
    cases = [
        (forged % (5, 5, f'"{move.digest}"'), "takes the next id, 2, not 5"),
        (forged % (2, 2, '"0000"'), "must link to the digest of the move sealed last"),
    ]
    for header, message in cases:
        with (
            as_role(APP),
            pytest.raises(DatabaseError, match=message),
            transaction.atomic(),
        ):
            builders.execute(
                "SELECT ledger_seal_write(%s::jsonb, '[]'::jsonb, '{}', '{}', '{}', %s)",
                [header, 2],
            )


def test_checks_warn_while_the_application_owns_the_ledger(db, app_role):
    ids = [m.id for m in check_ledger_objects(databases=["default"])]
    assert ids == ["ledger.W003"]  # the test runs as a superuser
    with app_role(grant_writes=True):
        messages = check_ledger_objects(databases=["default"])
    assert [m.id for m in messages] == ["ledger.W004"]
    assert "may write the ledger tables (ledger_change:DELETE" in messages[0].msg


def test_checks_are_quiet_once_the_roles_are_separated(separated):
    with as_role(APP):
        assert check_ledger_objects(databases=["default"]) == []


def test_setup_refuses_an_application_role_that_holds_the_owner(seeded):
    builders.execute(f"CREATE ROLE {APP} NOLOGIN")
    builders.execute(f"CREATE ROLE {OWNER} NOLOGIN")
    builders.execute(f"GRANT {OWNER} TO {APP}")
    with pytest.raises(RoleSetupError, match=rf"{APP} is a member of {OWNER}: it could act"):
        setup_roles(OWNER, [APP])


def test_setup_refuses_a_superuser_application_role(seeded):
    with pytest.raises(RoleSetupError, match="is a superuser: nothing can protect the ledger"):
        setup_roles(OWNER, [connection.settings_dict["USER"]])


def test_setup_run_by_the_application_role_says_who_must_run_it(separated):
    """An Antenna rerun ran the first form as the application's role: one line, no change."""
    with (
        as_role(APP),
        pytest.raises(
            CommandError,
            match=r"^refused: must be owner of table ledger_\w+\. Run ledger_setup_roles as a "
            r"database administrator .*; nothing was changed$",
        ),
    ):
        call_command("ledger_setup_roles", "--owner", OWNER, "--app-role", APP)
    assert inspect(APP).owners == [OWNER]


def test_a_table_spec_from_a_move_header_records_in_a_process_that_registered_nothing(
    seeded, monkeypatch
):
    monkeypatch.setattr("ledger.context.registered_tables", lambda: ())
    spec = TableSpec(table="ledger_t_parent", pk="id", secret_columns=(), label="tests.Parent")
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7", tables=[spec]) as rec,
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_t_parent SET name = 'x' WHERE id = 1")
    assert rec.entry_count == 1


def _seal_function() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT prosrc FROM pg_proc WHERE proname = 'ledger_seal_write'")
        return cursor.fetchone()[0]


def _json_migration():
    """Migration 0006's SQL: it drops the ``ledger_entry`` view and makes it anew."""
    migration = importlib.import_module("ledger.migrations.0006_rows_stored_as_json")
    (operation,) = migration.Migration.operations[0].database_operations
    return operation


def _run(operation, direction: str = "database_forwards") -> None:
    """Run a migration's operation, as the current role, in a transaction of its own."""
    with transaction.atomic(), connection.schema_editor() as editor:
        getattr(operation, direction)("ledger", editor, ProjectState(), ProjectState())


def _refused_to_the_application(
    operation, match: str, direction: str = "database_forwards"
) -> None:
    """Run a migration's operation as the application's role, which migrates Antenna: it may
    create in the schema (it owns the database), not replace what the ledger's owner owns."""
    builders.execute(f"GRANT CREATE ON SCHEMA public TO {APP}")
    with as_role(APP), pytest.raises(CommandError, match=match):
        _run(operation, direction)


@pytest.mark.parametrize(
    ("direction", "command", "done"),
    [
        ("database_forwards", "migrate ledger", "applied"),
        ("database_backwards", "migrate ledger <migration>", "unapplied"),
    ],
)
def test_a_ledger_migration_run_by_the_application_says_who_must_run_it(
    separated, direction, command, done
):
    migration = importlib.import_module("ledger.migrations.0005_seal_next_entry_by_key")
    (operation,) = migration.Migration.operations
    before = _seal_function()
    _refused_to_the_application(
        operation,
        r"^ledger migration refused: must be owner of function ledger_seal_write\. "
        rf".*run `python manage.py {command}` as a superuser, then "
        rf"`ledger_setup_roles` again .* This migration was not {done}\.$",
        direction,
    )
    assert _seal_function() == before
    # A superuser runs it, and the owner keeps the function (CREATE OR REPLACE keeps owners).
    _run(operation)
    assert inspect(APP).owners == [OWNER]


def test_the_json_migration_run_by_the_application_says_who_must_run_it(separated):
    _refused_to_the_application(
        _json_migration(),
        r"^ledger migration refused: must be owner of view ledger_entry\. .*"
        r"This migration was not applied\.$",
    )


def test_a_view_made_anew_by_a_superuser_is_named_until_the_roles_are_set_up_again(separated):
    # A superuser runs the migration (here its SQL again: the view is dropped and made anew).
    _run(_json_migration())
    with as_role(APP):
        [warning] = check_ledger_objects(databases=["default"])
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            builders.execute("SELECT count(*) FROM ledger_entry")
    assert warning.id == "ledger.W005"
    assert warning.msg.startswith(
        f"the application's database role {APP} cannot read ledger_entry"
    )
    assert "run again `python manage.py ledger_setup_roles" in warning.hint
    with as_role(APP):
        out = StringIO()
        call_command("ledger_setup_roles", "--check", stdout=out)
    assert f"{APP}: cannot read ledger_entry (made anew by a ledger migration)" in out.getvalue()
    setup_roles(OWNER, [APP])
    with as_role(APP):
        assert check_ledger_objects(databases=["default"]) == []
        builders.execute("SELECT count(*) FROM ledger_entry")


# What a role owning the ledger's schema (as Antenna's, which owns its database, owns
# ``public`` on PostgreSQL 15) could drop, directly or by cascade.
DROPS = (
    "DROP TABLE ledger_change CASCADE",
    "DROP TABLE ledger_move, ledger_step CASCADE",
    "DROP TABLE ledger_row_index CASCADE",
    "DROP VIEW ledger_entry",
    "DROP FUNCTION ledger_seal_write(jsonb, jsonb, bigint[], bigint[], text[], bigint)",
    "DROP FUNCTION ledger_capture() CASCADE",
)


def test_a_role_owning_the_schema_cannot_drop_the_ledger(separated):
    # As Antenna's role, which owns its database: it owns public and may rename it.
    builders.execute(f"ALTER SCHEMA public OWNER TO {APP}")
    builders.execute(f'GRANT CREATE ON DATABASE "{connection.settings_dict["NAME"]}" TO {APP}')
    with as_role(APP):
        for statement in DROPS:
            with (
                pytest.raises(
                    DatabaseError,
                    match=r"ledger: (table|view|function) public\.ledger_\w+(\(.*\))? belongs to "
                    r"the ledger: only a superuser may drop it",
                ),
                transaction.atomic(),
            ):
                builders.execute(statement)
        # Nor after renaming the schema (its owner may).
        with transaction.atomic():
            builders.execute("ALTER SCHEMA public RENAME TO p_old")
            with (
                pytest.raises(DatabaseError, match=r"table p_old\.ledger_change belongs to the"),
                transaction.atomic(),
            ):
                builders.execute("DROP TABLE p_old.ledger_change CASCADE")
            transaction.set_rollback(True)
        # The guard itself is not the application's to drop.
        for statement in (
            "DROP EVENT TRIGGER ledger_refuse_drop",
            "DROP FUNCTION ledger_guard.refuse_drop() CASCADE",
            "DROP SCHEMA ledger_guard CASCADE",
        ):
            with pytest.raises(DatabaseError, match="must be owner"), transaction.atomic():
                builders.execute(statement)
        # Its own tables it drops as before.
        with transaction.atomic():
            builders.execute("DROP TABLE ledger_t_note")
            transaction.set_rollback(True)
    state = inspect(APP)
    assert state.owns_schema
    assert state.drop_guarded
    assert ledger.verify().ok


def test_without_the_guard_a_role_owning_the_schema_is_warned_of(separated):
    builders.execute(f"ALTER SCHEMA public OWNER TO {APP}")
    builders.execute("DROP EVENT TRIGGER ledger_refuse_drop")
    with as_role(APP):
        [warning] = check_ledger_objects(databases=["default"])
        out = StringIO()
        call_command("ledger_setup_roles", "--check", stdout=out)
    assert warning.id == "ledger.W006"
    assert warning.msg.startswith(
        f"the application's database role {APP} owns the schema the ledger is in: it may drop"
    )
    assert "as a superuser, run `python manage.py ledger_setup_roles" in warning.hint
    assert f"{APP}: owns the ledger's schema and may drop its tables (no drop guard)" in (
        out.getvalue()
    )
    # Set up again as a superuser: the guard is back, and the warning gone.
    setup_roles(OWNER, [APP])
    with as_role(APP):
        assert check_ledger_objects(databases=["default"]) == []
        with pytest.raises(DatabaseError, match="belongs to the ledger"), transaction.atomic():
            builders.execute("DROP TABLE ledger_change CASCADE")


def test_every_finding_is_named_not_only_the_first(separated):
    # A migration run as a superuser made the view anew, and the guard is gone.
    _run(_json_migration())
    builders.execute(f"ALTER SCHEMA public OWNER TO {APP}")
    builders.execute("DROP EVENT TRIGGER ledger_refuse_drop")
    with as_role(APP):
        found = check_ledger_objects(databases=["default"])
        out = StringIO()
        call_command("ledger_setup_roles", "--check", stdout=out)
    assert [m.id for m in found] == ["ledger.W005", "ledger.W006"]
    assert "cannot read ledger_entry" in out.getvalue()
    assert "no drop guard" in out.getvalue()
    assert "reads the ledger and seals" not in out.getvalue()
