"""Attached to a database this project did not migrate (an Antenna database): ``migrate``
creates the ledger's objects only, a move, its verification and its revert work, and a schema
that differs from what the move expects refuses the move, naming every difference.

The database is built the way an Antenna installation has it: the domain tables exist,
``django_migrations`` lists Antenna's own migration names for the domain apps, and there is
no ledger, no settings-history tracker and no project-follows-deployment key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from ami.database import PROJECT_ROOT

pytestmark = [pytest.mark.slow]

DOMAIN_APPS = ("main", "ml", "jobs", "exports", "users", "labelstudio")
# Stand-ins for the names Antenna's own migrations have (RolnickLab/antenna, ami/main/...).
ANTENNA_MIGRATIONS = [(app, name) for app in DOMAIN_APPS for name in ("0001_initial", "0042_x")]
_CATALOG = """
SELECT 'table ' || relname FROM pg_class WHERE relnamespace = 'public'::regnamespace
    AND relkind IN ('r', 'v')
UNION ALL SELECT 'trigger ' || tgname || ' on ' || tgrelid::regclass FROM pg_trigger
    WHERE NOT tgisinternal
UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace
"""

_FOREIGN_TYPES = (
    "SELECT id FROM django_content_type WHERE app_label IN ('ledger', 'pghistory') "
    "OR (app_label, model) = ('main', 'projectsettingsevent')"
)
_CONTENT_TYPES = "SELECT app_label || '.' || model FROM django_content_type"


def _url(database: str) -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{database}"


def _manage(database: str, *args: str, attach: bool = True, check: bool = True):
    env = {
        **os.environ,
        "DATABASE_URL": _url(database),
        "DJANGO_SETTINGS_MODULE": "ami.settings.base",
        "AMI_ATTACH": "1" if attach else "",
        "LEDGER_FINGERPRINT_KEY": "3c" * 32,
    }
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if check and done.returncode:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done


def _sql(database: str, *statements: str) -> list[tuple]:
    """Run statements on ``database`` (autocommit, whatever the driver); the last one's rows."""
    other = connection.copy()
    other.settings_dict["NAME"] = database
    try:
        with other.cursor() as cursor:
            rows: list[tuple] = []
            for statement in statements:
                cursor.execute(statement)
                rows = cursor.fetchall() if cursor.description else []
            return rows
    finally:
        other.close()


@pytest.fixture
def antenna_database(django_db_blocker):
    """A database with Antenna's tables and migration names, and nothing of the ledger."""
    name = f"attach_{os.getpid()}"
    with django_db_blocker.unblock():
        _sql(
            "postgres",
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}"',
        )
        _manage(name, "migrate", "-v0", attach=False)
        _manage(name, "migrate", "ledger", "zero", "-v0", attach=False)
        _manage(name, "project_follows_deployment", "--remove", attach=False)
        _sql(
            name,
            "DROP TABLE main_projectsettingsevent CASCADE",
            "DROP TABLE pghistory_context CASCADE",
            "DELETE FROM django_migrations WHERE app IN ('pghistory', 'ledger') OR app = ANY("
            f"ARRAY{list(DOMAIN_APPS)})",
            "INSERT INTO django_migrations (app, name, applied) VALUES "
            + ", ".join(f"('{a}', '{n}', now())" for a, n in ANTENNA_MIGRATIONS),
            # Antenna's content types and permissions: none for the ledger, pghistory or the
            # settings history.
            f"DELETE FROM auth_permission WHERE content_type_id IN ({_FOREIGN_TYPES})",
            f"DELETE FROM django_content_type WHERE id IN ({_FOREIGN_TYPES})",
            "DO $$ DECLARE t record; BEGIN FOR t IN SELECT tgname, tgrelid::regclass AS rel "
            "FROM pg_trigger WHERE tgname LIKE 'pgtrigger_%' LOOP "
            "EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel); END LOOP; END $$",
        )
        yield name
        _sql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _demo(database: str) -> dict:
    generated = _manage(database, "generate_demo_data", "--scale", "tiny", "--format", "json")
    return json.loads(generated.stdout)


def test_attach_installs_only_the_ledger_then_moves_verifies_and_reverts(
    antenna_database, django_db_blocker
):
    db = antenna_database
    django_db_blocker.unblock()
    before = {row[0] for row in _sql(db, _CATALOG)}
    types_before = {row[0] for row in _sql(db, _CONTENT_TYPES)}
    _manage(db, "migrate", "-v0")
    added = {row[0] for row in _sql(db, _CATALOG)} - before
    assert added, "migrate created nothing"
    assert all("ledger" in item for item in added), sorted(added)
    assert not [i for i in added if i.startswith("trigger") and " on ledger" not in i]
    types_added = {row[0] for row in _sql(db, _CONTENT_TYPES)} - types_before
    assert types_added == {
        f"ledger.{m}" for m in ("move", "step", "change", "entry", "rowindex", "rowindexdone")
    }
    demo = json.loads(
        _manage(db, "generate_demo_data", "--scale", "tiny", "--format", "json").stdout
    )
    move = [
        "move_project_data", "--source-project", str(demo["source_project_id"]),
        "--target-project", str(demo["target_project_id"]),
        "--deployment-ids", ",".join(map(str, demo["moved_deployment_ids"])),
    ]  # fmt: skip
    out = _manage(db, *move, "--execute", "--reason", "attached move").stdout
    assert "MOVE COMPLETE" in out
    assert "OK: 1 move(s)" in _manage(db, "verify_ledger").stdout
    assert (
        "REVERT COMPLETE"
        in _manage(db, "revert_move", "1", "--execute", "--reason", "undo").stdout
    )
    assert "OK: 2 move(s)" in _manage(db, "verify_ledger").stdout
    triggers = _sql(db, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ledger_capture%'")
    assert triggers == [(0,)]  # released: no trigger left on Antenna's tables


def test_a_schema_that_differs_refuses_the_move_naming_each_difference(
    antenna_database, django_db_blocker
):
    db = antenna_database
    django_db_blocker.unblock()
    _manage(db, "migrate", "-v0")
    demo = json.loads(
        _manage(db, "generate_demo_data", "--scale", "tiny", "--format", "json").stdout
    )
    _sql(
        db,
        "ALTER TABLE main_site DROP COLUMN description",
        "ALTER TABLE main_project ALTER COLUMN description TYPE varchar(5) "
        "USING left(description, 5)",
        "ALTER TABLE main_device ADD COLUMN serial text NOT NULL DEFAULT 'x'",
        "ALTER TABLE main_device ALTER COLUMN serial DROP DEFAULT",
    )
    done = _manage(
        db,
        "move_project_data",
        "--source-project", str(demo["source_project_id"]),
        "--target-project", str(demo["target_project_id"]),
        "--deployment-ids", ",".join(map(str, demo["moved_deployment_ids"])),
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "The database's schema is not the one this move was written for" in done.stderr
    assert "- main_site.description is missing" in done.stderr
    assert "- main_project.description is character varying(5), expected text" in done.stderr
    assert "- main_device.serial is NOT NULL without a default" in done.stderr
