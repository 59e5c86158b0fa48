"""System checks (tag ``database``, run by ``manage.py check --database default``).

- ``ledger.E001``: an append-only protection trigger is missing on a ledger table.
- ``ledger.E002``: the capture function or the ``ledger_entry`` view is missing.
- ``ledger.E003``: a migration of the ledger is not applied (``migrate ledger <previous>``).
- ``ledger.E004``: a ledger function, protection trigger or the view is not the SQL this code
  renders (``ledger.installed``): altered by hand, or left by another version.
- ``ledger.W001``: a registered table does not exist (a recording would refuse to start).
- ``ledger.W003``: the application's database role owns the ledger (or is a superuser): it
  could disable the protection or rewrite the ledger.
- ``ledger.W004``: the application's role holds write privileges on the ledger tables.
- ``ledger.W005``: the application's role cannot read a ledger table or view (a ledger
  migration run as a superuser made it anew, and ``ledger_setup_roles`` has not run since).
- ``ledger.W006``: the application's role owns the schema the ledger is in, so it may drop
  the ledger's tables, and no drop guard (``ledger.drop_guard``) stops it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from django.core import checks
from django.db import connections
from django.db.utils import DatabaseError, OperationalError

from ledger import installed
from ledger.protect import PROTECTED_TABLES
from ledger.registry import registered_tables
from ledger.roles import inspect


def _migrating() -> bool:
    """True while ``migrate`` runs: it runs the database checks before it migrates, and what
    it is about to install or fix must not stop it."""
    from django.core.management.commands.migrate import Command as Migrate

    frame = sys._getframe(1)
    while frame is not None:
        # Django 4.2 checks from migrate's own handle(); 5.2 from BaseCommand.execute, whose
        # frame has the migrate command as ``self``.
        if frame.f_globals.get("__name__") == Migrate.__module__ or isinstance(
            frame.f_locals.get("self"), Migrate
        ):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


@checks.register(checks.Tags.database)
def check_ledger_objects(
    app_configs: object = None, databases: Iterable[str] | None = None, **kwargs: object
) -> list[checks.CheckMessage]:
    """Report missing protection, capture function or view, and missing registered tables."""
    errors: list[checks.CheckMessage] = []
    if _migrating():
        return errors
    for alias in databases or ():
        try:
            errors += _check(alias)
        except OperationalError:
            # No server or no database: not the ledger's finding; the command that needed
            # the database says so in one line (manage.py).
            raise
        except DatabaseError as exc:  # pragma: no cover - the database check reports this
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            errors.append(checks.Warning(f"ledger checks skipped: {first}", id="ledger.W002"))
    return errors


def _ownership(alias: str) -> list[checks.CheckMessage]:
    state = inspect(using=alias)
    # ledger_setup_roles refuses a superuser as the application's role: nothing protects the
    # ledger from one (Antenna's docker setup connects as the image's superuser).
    app_role = "<that role>" if state.superuser else state.role
    fix = (
        "as a database administrator, run `python manage.py ledger_setup_roles --owner "
        f"ledger_owner --app-role {app_role}` (docs/compliance.md)"
    )
    if state.superuser:
        fix = "connect the application as an ordinary role that owns its tables, then, " + fix
    if state.superuser or state.owns_or_holds_owner:
        what = "is a superuser" if state.superuser else "owns the ledger"
        return [
            checks.Warning(
                f"the application's database role {state.role} {what}: it can disable the "
                "ledger's protection, drop its tables or replace its functions",
                hint=fix,
                id="ledger.W003",
            )
        ]
    found: list[checks.CheckMessage] = []  # each that holds: one fix clears them all
    if state.write_privileges:
        found.append(
            checks.Warning(
                f"the application's database role {state.role} may write the ledger tables "
                f"({', '.join(state.write_privileges)})",
                hint=fix,
                id="ledger.W004",
            )
        )
    if state.unreadable:
        found.append(
            checks.Warning(
                f"the application's database role {state.role} cannot read "
                f"{', '.join(state.unreadable)}: a ledger migration made it anew as a "
                "superuser; moves, history, exports and verification need it",
                hint=fix.replace("run `", "run again `", 1),
                id="ledger.W005",
            )
        )
    if state.droppable:
        found.append(
            checks.Warning(
                f"the application's database role {state.role} owns the schema the ledger is "
                "in: it may drop the ledger's tables, views and functions",
                hint=fix.replace("as a database administrator", "as a superuser", 1)
                + ": it installs a guard that refuses such drops",
                id="ledger.W006",
            )
        )
    return found


def _installed(alias: str) -> list[checks.CheckMessage]:
    """Migrations not applied, and SQL objects that are not what the code renders."""
    errors: list[checks.CheckMessage] = []
    missing = installed.unapplied_migrations(alias)
    if missing:
        errors.append(
            checks.Error(
                f"the ledger's migration(s) {', '.join(missing)} are not applied: its tables "
                "and functions are not what this code expects",
                hint="run `python manage.py migrate ledger` (where `ledger_setup_roles` gave "
                "the ledger to its own owner: as a superuser, then `ledger_setup_roles` again)",
                id="ledger.E003",
            )
        )
    for difference in installed.differences(alias):
        errors.append(
            checks.Error(
                f"the installed {difference} is not what this version of the ledger renders",
                hint="run `python manage.py migrate ledger`; with every migration applied, the "
                "object was changed by hand or by another version: restore it, as the "
                "ledger's owner, from the template the error names (docs/ledger.md)",
                id="ledger.E004",
            )
        )
    return errors


def _check(alias: str) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT to_regclass('ledger_move') IS NULL")
        if cursor.fetchone()[0]:
            # Not migrated yet: `migrate` runs these checks before it creates the ledger, and
            # must not be refused for what it is about to install.
            return errors
        cursor.execute(
            "SELECT c.relname, "
            "count(t.tgname) FILTER (WHERE t.tgname = 'ledger_append_only'), "
            "count(t.tgname) FILTER (WHERE t.tgname = 'ledger_no_truncate') "
            "FROM pg_class c LEFT JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgenabled <> 'D' "
            "WHERE c.relname = ANY(%s) GROUP BY c.relname",
            [list(PROTECTED_TABLES)],
        )
        for table, append_only, no_truncate in cursor.fetchall():
            if not (append_only and no_truncate):
                errors.append(
                    checks.Error(
                        f"{table} is not protected against UPDATE/DELETE/TRUNCATE",
                        hint="run `python manage.py migrate ledger`",
                        id="ledger.E001",
                    )
                )
        cursor.execute(
            "SELECT to_regprocedure('ledger_capture()') IS NOT NULL, "
            "to_regclass('ledger_entry') IS NOT NULL"
        )
        function, view = cursor.fetchone()
        if not (function and view):
            errors.append(
                checks.Error(
                    "the ledger capture function or the ledger_entry view is missing",
                    hint="run `python manage.py migrate ledger`",
                    id="ledger.E002",
                )
            )
        errors += _installed(alias)
        errors += _ownership(alias)
        for spec in registered_tables():
            cursor.execute("SELECT to_regclass(quote_ident(%s)) IS NOT NULL", [spec.table])
            if not cursor.fetchone()[0]:
                errors.append(
                    checks.Warning(
                        f"registered table {spec.table} does not exist",
                        hint="run its migrations, or unregister it",
                        id="ledger.W001",
                    )
                )
    return errors
