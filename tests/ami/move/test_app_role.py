"""The commands as the application's own database role: a login role that owns the
application's tables (it ran their migrations) but neither is a superuser nor owns the ledger.
"""

from __future__ import annotations

import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection

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
            f"REASSIGN OWNED BY {APP}, {OWNER} TO {admin_user}",
            f"DROP OWNED BY {APP}, {OWNER}",
            f"DROP ROLE {APP}",
            f"DROP ROLE {OWNER}",
        )


def test_move_revert_and_verify_work_as_the_application_role(as_application_role):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (APP, False)
    src = setup_source(3, with_identifications=True)
    target = make_project("Target", make_user("target-owner"))
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    assert Deployment.objects.get(pk=src.dep.pk).project_id == target.pk
    revert(move_id, "--execute", "--reason", "undo")
    assert Deployment.objects.get(pk=src.dep.pk).project_id == src.project.pk
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert "OK: 2 move(s)" in out.getvalue()
    with (
        pytest.raises(DatabaseError, match="permission denied for table ledger_move"),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_move SET reason = 'rewritten'")
