"""System checks: ledger objects present once migrated and as the code renders them; silent
before and while ``migrate`` runs (it must not be blocked by what it is about to fix)."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.db import connection, transaction

import ledger
from ledger import installed
from ledger.checks import check_ledger_objects
from ledger.errors import LedgerError
from ledger.queries import read_headers

pytestmark = pytest.mark.django_db


def test_migrated_database_passes_but_for_the_superuser_owning_it():
    [warning] = check_ledger_objects(databases=["default"])
    assert warning.id == "ledger.W003"
    assert "is a superuser" in warning.msg
    # ledger_setup_roles refuses a superuser as --app-role: the hint does not suggest it.
    assert warning.hint.startswith("connect the application as an ordinary role")
    assert "--app-role <that role>" in warning.hint


def test_missing_view_is_reported():
    with connection.cursor() as cur:
        cur.execute("ALTER VIEW ledger_entry RENAME TO ledger_entry_gone")
    ids = [m.id for m in check_ledger_objects(databases=["default"])]
    assert "ledger.E002" in ids


def test_unmigrated_database_does_not_block_migrate():
    with connection.cursor() as cur:
        cur.execute("ALTER VIEW ledger_entry RENAME TO ledger_entry_gone")
        cur.execute("ALTER TABLE ledger_move RENAME TO ledger_move_gone")
    assert check_ledger_objects(databases=["default"]) == []


def _ids(messages) -> list[str]:
    return [m.id for m in messages]


def _errors(code: str) -> list[str]:
    return [m.msg for m in check_ledger_objects(databases=["default"]) if m.id == code]


def test_the_installed_sql_is_what_the_code_renders():
    assert installed.differences() == []
    assert installed.unapplied_migrations() == []
    assert {f.signature for f in installed.functions()} >= {
        "ledger_capture()",
        "ledger_seal_write(jsonb, jsonb, bigint[], bigint[], text[], bigint)",
        "ledger_index_rows(bigint)",
    }


@pytest.mark.parametrize(
    ("alteration", "message"),
    [
        (
            "CREATE OR REPLACE FUNCTION ledger_refuse_change() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
            r"function ledger_refuse_change\(\): its body differs",
        ),
        (
            "ALTER FUNCTION ledger_index_rows(bigint) RESET search_path",
            r"function ledger_index_rows\(bigint\): its search_path is not fixed",
        ),
        (
            "ALTER FUNCTION ledger_index_rows(bigint) SECURITY INVOKER",
            r"function ledger_index_rows\(bigint\): SECURITY DEFINER was removed",
        ),
        (
            "DROP FUNCTION ledger_fingerprint(text)",
            r"function ledger_fingerprint\(text\): missing",
        ),
        (
            "DROP TRIGGER ledger_append_only ON ledger_step; "
            "CREATE TRIGGER ledger_append_only BEFORE DELETE ON ledger_step "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()",
            r"trigger ledger_append_only on ledger_step: its timing, events or function differ",
        ),
        (
            "ALTER TABLE ledger_row_index DISABLE TRIGGER ledger_no_truncate",
            r"trigger ledger_no_truncate on ledger_row_index: disabled",
        ),
        (
            "CREATE OR REPLACE VIEW ledger_entry AS SELECT c.id + u.ord - 1 AS id, c.move_id, "
            "c.step_id, c.table_name, c.op, u.row_pk, c.before, c.after FROM ledger_change c "
            "CROSS JOIN LATERAL unnest(c.pks) WITH ORDINALITY AS u(row_pk, ord) "
            "WHERE c.op <> 'D'",
            r"view ledger_entry: its definition differs",
        ),
    ],
    ids=["body", "search-path", "invoker", "dropped", "events", "disabled", "view"],
)
def test_sql_changed_by_hand_is_an_error(alteration, message):
    with connection.cursor() as cur:
        cur.execute(alteration)
    [error] = _errors("ledger.E004")
    assert re.search(message, error), error
    assert "is not what this version of the ledger renders" in error
    with pytest.raises(SystemCheckError, match=r"ledger\.E004"):
        call_command("check", "--database", "default", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_migration_is_an_error_and_migrate_is_not_blocked():
    quiet = {"stdout": StringIO(), "stderr": StringIO(), "verbosity": 0}
    call_command("migrate", "ledger", "0002", **quiet)
    try:
        messages = check_ledger_objects(databases=["default"])
        [unapplied] = [m for m in messages if m.id == "ledger.E003"]
        assert re.search(
            r"migration\(s\) 0003_row_index, 0004_move_subjects, 0005_seal_next_entry_by_key, "
            r"0006_rows_stored_as_json are not",
            unapplied.msg,
        )
        assert unapplied.hint.startswith("run `python manage.py migrate ledger` (where")
        assert any(
            "function ledger_index_rows(bigint): missing" in m.msg
            for m in messages
            if m.id == "ledger.E004"
        )
        # Nothing reads or writes that ledger: no move sealed without the fields its digest
        # covers, no read failing on a missing column (migrate told this process to look again).
        older = (
            r"ledger is older than this code \(migrations 0003_row_index, 0004_move_subjects, "
            r"0005_seal_next_entry_by_key, 0006_rows_stored_as_json"
        )
        with (
            pytest.raises(LedgerError, match=older),
            transaction.atomic(),
            ledger.recording(command="c", reason="r", operator="7"),
        ):
            pass
        with pytest.raises(LedgerError, match=older):
            list(read_headers())
        for command in (("list_moves",), ("show_move", "1"), ("verify_ledger",)):
            with pytest.raises(CommandError, match=older):  # one line, not a traceback
                call_command(*command, stdout=StringIO())
    finally:
        # migrate runs the database checks first (as manage.py runs it: checks not skipped):
        # the errors above must not stop it.
        call_command("migrate", "ledger", skip_checks=False, **quiet)
    assert _ids(check_ledger_objects(databases=["default"])) == ["ledger.W003"]
