"""System checks: ledger objects present once migrated; silent before (migrate must run)."""

from __future__ import annotations

import pytest
from django.db import connection

from ledger.checks import check_ledger_objects

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
