"""The commands as the application's own database role: a login role that owns the
application's tables (it ran their migrations) but neither is a superuser nor owns the ledger.
"""

from __future__ import annotations

import os
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection

import ledger.apart
from ami.main.models import Deployment
from tests.ami.move.commands import move_to, revert
from tests.builders import make_project, make_user, setup_source

OWNER = f"ami_test_ledger_owner_{os.getpid()}"
APP = f"ami_test_app_{os.getpid()}"

_APPLICATION_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname NOT LIKE 'ledger%%'
ORDER BY 1
"""


def _admin(*statements: str) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _application_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(_APPLICATION_TABLES)
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture
def as_application_role(transactional_db):
    """Run the test's Django connection as the application role, then undo everything."""
    admin_user = connection.settings_dict["USER"]
    tables = _application_tables()
    _admin(f"CREATE ROLE {APP} LOGIN NOSUPERUSER")
    _admin(*(f'ALTER TABLE "{t}" OWNER TO {APP}' for t in tables))
    call_command("ledger_setup_roles", "--owner", OWNER, "--app-role", APP, stdout=StringIO())
    connection.close()
    connection.settings_dict["USER"] = APP
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["USER"] = admin_user
        _admin(
            *(f'ALTER TABLE "{t}" OWNER TO {admin_user}' for t in tables),
            *(
                f"ALTER TABLE {t} OWNER TO {admin_user}"
                for t in ("ledger_move", "ledger_step", "ledger_change", "ledger_entry")
            ),
            "DROP EVENT TRIGGER IF EXISTS ledger_refuse_drop",
            "DROP SCHEMA IF EXISTS ledger_guard CASCADE",
            f"REASSIGN OWNED BY {APP}, {OWNER} TO {admin_user}",
            f"DROP OWNED BY {APP}, {OWNER}",
            f"DROP ROLE {APP}",
            f"DROP ROLE {OWNER}",
        )


@pytest.fixture
def reads_apart(monkeypatch):
    """Each read the revert runs on a connection of its own: its thread, who it logged in as."""
    seen: list[tuple[str, str, bool, int]] = []
    original = ledger.apart._on_own_connection

    def spied(read, using):
        def reading(alias):
            from django.db import connections

            with connections[alias].cursor() as cursor:
                cursor.execute(
                    "SELECT current_user, rolsuper, pg_backend_pid() FROM pg_roles "
                    "WHERE rolname = current_user"
                )
                seen.append((threading.current_thread().name, *cursor.fetchone()))
            return read(alias)

        return original(reading, using)

    monkeypatch.setattr(ledger.apart, "_on_own_connection", spied)
    return seen


def test_move_revert_and_verify_work_as_the_application_role(
    as_application_role, reads_apart, caplog
):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (APP, False)
    src = setup_source(3, with_identifications=True)
    target = make_project("Target", make_user("target-owner"))
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    assert Deployment.objects.get(pk=src.dep.pk).project_id == target.pk
    revert(move_id, "--execute", "--reason", "undo")
    assert Deployment.objects.get(pk=src.dep.pk).project_id == src.project.pk
    # The revert's verification and its scans for new data ran apart, logged in as the
    # application role too, and neither fell back to the revert's own connection.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own = cursor.fetchone()[0]
    assert sorted(thread.rsplit("_", 1)[0] for thread, *_ in reads_apart) == [
        "ledger-scan",
        "ledger-verify",
    ]
    assert {(user, superuser) for _, user, superuser, _ in reads_apart} == {(APP, False)}
    assert own not in {pid for *_, pid in reads_apart}
    assert not [r for r in caplog.records if r.name.startswith("ledger") and r.levelno >= 30]
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert "OK: 2 move(s)" in out.getvalue()
    with (
        pytest.raises(DatabaseError, match="permission denied for table ledger_move"),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_move SET reason = 'rewritten'")
