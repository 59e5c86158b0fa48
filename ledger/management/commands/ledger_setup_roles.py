"""Give the ledger an owner of its own, and the application only what it needs.

python manage.py ledger_setup_roles --owner ledger_owner --app-role ami_app   # as an admin
python manage.py ledger_setup_roles --check                                   # as the app

Run the first form once after ``migrate``, as a database administrator: every ledger table,
view and function then belongs to ``--owner`` (created, without login, if missing), and each
``--app-role`` may read the ledger, record and seal moves, and nothing else. ``--check`` says
what the current role could do to the ledger. See docs/compliance.md.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from ledger import races
from ledger.errors import LedgerError
from ledger.management.base import LedgerCommand
from ledger.roles import LedgerOwnership, inspect, setup_roles


class Command(LedgerCommand):
    help = "Hand the ledger to an owner role; grant application roles only what they need."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--owner", help="The role to own the ledger (created if missing).")
        parser.add_argument(
            "--app-role",
            action="append",
            default=[],
            help="An application role (repeatable): read, record and seal only.",
        )
        parser.add_argument(
            "--check", action="store_true", help="Only report what the current role can do."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["check"]:
            if not options["owner"] or not options["app_role"]:
                raise CommandError(
                    "pass --owner ROLE and at least one --app-role ROLE (or --check)"
                )
            try:
                guarded = setup_roles(options["owner"], options["app_role"])  # one transaction
            except LedgerError as exc:
                raise CommandError(str(exc)) from exc
            if not guarded:
                self.stdout.write(
                    self.style.WARNING(
                        "not a superuser: the drop guard was not installed, so a role owning "
                        "the ledger's schema may still drop its tables; run this again as a "
                        "superuser"
                    )
                )
            try:
                for app in options["app_role"]:
                    self._report(inspect(app))
            except Exception as exc:
                # Committed already: a lost race now did not undo it (LedgerCommand would say
                # nothing was changed).
                if (cause := races.cause(exc)) is None:
                    raise
                raise CommandError(
                    f"the roles were set up; reading them back was interrupted ({cause}): "
                    "run ledger_setup_roles --check"
                ) from exc
            return
        self._report(inspect())

    def _report(self, state: LedgerOwnership) -> None:
        self.stdout.write(f"ledger owner(s): {', '.join(state.owners)}")
        if state.superuser or state.owns_or_holds_owner:
            self.stdout.write(
                self.style.WARNING(
                    f"{state.role}: {'superuser' if state.superuser else 'owns the ledger'} "
                    "— it can rewrite or drop the ledger"
                )
            )
            return
        warnings = []
        if state.write_privileges:
            warnings.append(
                f"{state.role}: may write the ledger tables directly "
                f"({', '.join(state.write_privileges)})"
            )
        if state.unreadable:
            warnings.append(
                f"{state.role}: cannot read {', '.join(state.unreadable)} (made anew by a "
                "ledger migration): run ledger_setup_roles again as a database administrator"
            )
        if state.droppable:
            warnings.append(
                f"{state.role}: owns the ledger's schema and may drop its tables (no drop "
                "guard): run ledger_setup_roles again as a superuser"
            )
        for warning in warnings:
            self.stdout.write(self.style.WARNING(warning))
        if not warnings:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{state.role}: reads the ledger and seals through ledger_seal_write only"
                )
            )
