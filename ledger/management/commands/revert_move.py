"""Undo a sealed move by replaying its ledger backwards. Dry run by default.

python manage.py revert_move 12                       # plan, rehearsed and rolled back
python manage.py revert_move 12 --execute --reason "TICKET-9: wrong stations"
"""

from __future__ import annotations

import getpass

import msgspec
from django.core.management.base import BaseCommand, CommandError

from ledger.errors import LedgerError, MoveNotFound
from ledger.replay import ReplayConflict, ReplayPolicy, revert
from ledger.replay.report import render


class Command(BaseCommand):
    help = "Revert a move from its ledger: dry run unless --execute; refuses on conflicts."

    def add_arguments(self, parser) -> None:
        parser.add_argument("move_id", type=int, help="The move to undo (see list_moves).")
        parser.add_argument("--execute", action="store_true", help="Carry the revert out.")
        parser.add_argument("--reason", default="", help="Why the move is undone (stored).")
        parser.add_argument("--operator", default=None, help="Who; defaults to the OS user.")
        parser.add_argument(
            "--skip-drifted",
            action="store_true",
            help="Leave rows changed since the move as they are, and list them in the record.",
        )
        parser.add_argument(
            "--carry-new-data",
            action="store_true",
            help="Take rows created after the move on the moved deployments back with them.",
        )
        parser.add_argument(
            "--allow-schema-change",
            action="store_true",
            help="Proceed although migrations ran since, if no touched table's columns changed.",
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **options) -> None:
        operator = options["operator"] or getpass.getuser()
        if "@" in operator:
            raise CommandError("--operator must not be an e-mail address: give a user id or name")
        if options["execute"] and not options["reason"].strip():
            raise CommandError('--execute needs --reason "why the move is undone" (it is stored)')
        policy = ReplayPolicy(
            skip_drifted=options["skip_drifted"],
            carry_new_data=options["carry_new_data"],
            allow_schema_change=options["allow_schema_change"],
        )
        try:
            report = revert(
                options["move_id"],
                execute=options["execute"],
                policy=policy,
                reason=options["reason"],
                operator=operator,
            )
        except MoveNotFound as exc:
            raise CommandError(str(exc)) from exc
        except ReplayConflict as exc:
            self._emit(exc.report, options)
            raise CommandError(str(exc)) from exc
        except LedgerError as exc:
            raise CommandError(f"the ledger refused the revert: {exc}") from exc
        self._emit(report, options)

    def _emit(self, report, options) -> None:
        if options["format"] == "json":
            self.stdout.write(msgspec.json.encode(report).decode())
            return
        if options["verbosity"] == 0:
            return
        styles = {
            "warning": self.style.WARNING,
            "error": self.style.ERROR,
            "success": self.style.SUCCESS,
        }
        for style, line in render(report):
            self.stdout.write(styles[style](line) if style else line)
