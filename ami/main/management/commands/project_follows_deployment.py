"""Report, install or remove the keys that make a row's project follow its deployment.

    python manage.py project_follows_deployment            # what is installed, what violates
    python manage.py project_follows_deployment --install  # opt-in, e.g. on an Antenna database
    python manage.py project_follows_deployment --remove

This project's migrations install the keys; an attached Antenna database gets them only on
request. See ``ami.main.consistency`` for what they do and what they cost.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection, transaction

from ami.main import consistency

_LOCK_TIMEOUT = "2s"


class Command(BaseCommand):
    help = "Report, install (--install) or remove (--remove) the project-follows-deployment keys."

    def add_arguments(self, parser) -> None:
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--install", action="store_true", help="Add and validate the keys")
        action.add_argument("--remove", action="store_true", help="Drop the keys")

    def handle(self, *args: Any, **options: Any) -> None:
        bad = consistency.violations()
        for table, (count, sample) in bad.items():
            self.stdout.write(
                self.style.WARNING(
                    f"{table}: {count} row(s) in another project than their "
                    f"deployment, e.g. ids {sample}"
                )
            )
        if options["install"]:
            if bad:
                raise CommandError(
                    "rows break the rule (listed above): move them to their deployment's project "
                    "(or clear their deployment) first; nothing was installed"
                )
            self._install()
        elif options["remove"]:
            self._run([consistency.drop_key_sql(t, n) for t, n in consistency.FOLLOWERS])
            self._run([consistency.DROP_UNIQUE])
        for table, state in consistency.installed().items():
            self.stdout.write(f"{table}: project follows deployment — {state or 'not installed'}")

    def _install(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM pg_constraint WHERE conname = %s", [consistency.UNIQUE_NAME]
            )
            if cursor.fetchone() is None:
                self._run([consistency.ADD_UNIQUE])
        present = consistency.installed()
        for table, name in consistency.FOLLOWERS:
            # NOT VALID first (a brief lock), then VALIDATE (no lock against writers).
            if present[table] is None:
                self._run([consistency.add_key_sql(table, name, valid=False)])
            if present[table] != "valid":
                self._run([f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}"])

    def _run(self, statements: list[str]) -> None:
        """Each batch in a short transaction of its own, waiting at most a moment for locks."""
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT set_config('lock_timeout', %s, true)", [_LOCK_TIMEOUT])
                for statement in statements:
                    cursor.execute(statement)
        except DatabaseError as exc:
            raise CommandError(
                f"could not change the keys ({str(exc).splitlines()[0]}): the table is busy or "
                "not as expected; nothing more was changed, run again"
            ) from exc
