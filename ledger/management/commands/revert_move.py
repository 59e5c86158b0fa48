"""Undo a sealed move by replaying its ledger backwards. Dry run by default.

python manage.py revert_move 12                       # plan, rehearsed and rolled back
python manage.py revert_move 12 --execute --reason "TICKET-9: wrong stations"

Verbosity: ``-v 0`` prints only the revert's move id and digest, once committed; ``-v 1`` the
plan as soon as it is known, one line per phase (with the seconds since the start) and per
replayed step (with its time), then the outcome. On a terminal the phases and steps are a rich
display (a spinner and the elapsed time per phase), as ``move_project_data`` shows its own.
"""

from __future__ import annotations

import contextlib
import time
from argparse import RawDescriptionHelpFormatter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any, NoReturn, cast

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)

from ledger.context import who_and_why
from ledger.errors import Interrupted, LedgerError, MoveNotFound
from ledger.interrupts import cancel_on_interrupt
from ledger.progress import phase_line
from ledger.replay import ReplayConflict, ReplayPolicy, revert
from ledger.replay import report as render
from ledger.replay.structs import ReplayPlan, ReplayReport, StepDone
from ledger.tuning import lock_timeout_problem

DEFAULT_LOCK_TIMEOUT = 10.0
# A dry run that finds blocking conflicts: the revert would be refused (a CommandError is 1).
EXIT_WOULD_BE_REFUSED = 2

EPILOG = """exit status:
  0  the revert was committed (--execute), or the dry run found it would succeed
  1  refused or rolled back (conflicts, failed checks, an interrupted run): nothing changed
  2  dry run: the revert would be refused (the conflicts are listed); nothing changed

examples:
  python manage.py revert_move 12                                    # dry run
  python manage.py revert_move 12 --execute --reason "TICKET-9: wrong stations"
  python manage.py revert_move 12 --format json                      # one JSON document

See docs/operator-guide.md."""


class HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's order of options; the epilog laid out as written."""


class Command(BaseCommand):
    help = "Revert a move from its ledger: dry run unless --execute; refuses on conflicts."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", HelpFormatter)
        return super().create_parser(prog_name, subcommand, epilog=EPILOG, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("move_id", type=int, help="The move to undo (see list_moves).")
        parser.add_argument("--execute", action="store_true", help="Carry the revert out.")
        parser.add_argument("--reason", default="", help="Why the move is undone (stored).")
        parser.add_argument("--operator", default=None, help="Who; defaults to the OS user.")
        parser.add_argument(
            "--skip-drifted",
            action="store_true",
            help="Leave the columns changed since the move as they are (restoring the rest of "
            "their rows), and rows deleted or taken again since; list them in the record.",
        )
        parser.add_argument(
            "--carry-new-data",
            action="store_true",
            help="Let rows created after the move that depend on what it moved go back with it "
            "(the domain's hooks decide which), instead of refusing.",
        )
        parser.add_argument(
            "--allow-schema-change",
            action="store_true",
            help="Proceed although migrations ran since, if no touched table's columns changed.",
        )
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=DEFAULT_LOCK_TIMEOUT,
            metavar="SECONDS",
            help="Give up (changing nothing) when a lock is not granted within this time.",
        )
        parser.add_argument(
            "--format",
            choices=["text", "json"],
            default="text",
            help="json: one document (the report; on a refusal ok and executed false, the "
            "error and the reasons); progress lines go to stderr.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.json = options["format"] == "json"
        self.verbosity = options["verbosity"]
        self.executing: bool = options["execute"]
        self.plan_shown: ReplayPlan | None = None
        self.started = time.monotonic()
        try:
            # The ledger's rules, as for a move: the login by default, no e-mail, a reason to
            # execute.
            operator, reason = who_and_why(
                options["operator"], options["reason"], executing=self.executing
            )
        except LedgerError as exc:
            self._fail(str(exc))
        if problem := lock_timeout_problem(options["lock_timeout"]):
            self._fail(problem)
        policy = ReplayPolicy(
            skip_drifted=options["skip_drifted"],
            carry_new_data=options["carry_new_data"],
            allow_schema_change=options["allow_schema_change"],
        )
        self.display: render.TerminalProgress | None = None
        try:
            # Ctrl-C cancels the statement running, whatever the driver (ledger.interrupts).
            with cancel_on_interrupt(), self._terminal():
                report = revert(
                    options["move_id"],
                    execute=self.executing,
                    policy=policy,
                    reason=reason,
                    operator=operator,
                    lock_timeout=options["lock_timeout"],
                    on_plan=self._show_plan,
                    on_phase=self._phase,
                    on_step=self._step,
                )
        except MoveNotFound as exc:
            self._fail(str(exc))
        except ReplayConflict as exc:
            self._refuse(str(exc), exc.report, exc)
        except Interrupted as exc:
            self._refuse(str(exc), None, exc)
        except LedgerError as exc:
            self._refuse(f"the ledger refused the revert: {exc}", None, exc)
        if not report.executed and not report.ok:
            self._would_be_refused(report)
        self._done(report)

    # --- progress, while the revert runs ---------------------------------------------------

    @contextlib.contextmanager
    def _terminal(self) -> Iterator[None]:
        """On a terminal (text, -v 1 or more), a rich display of the phases and steps while
        the revert runs; else progress is one line each."""
        if self.json or self.verbosity == 0 or not self.stdout.isatty():
            yield
            return
        with render.TerminalProgress(
            cast("IO[str]", getattr(self.stdout, "_out", self.stdout))
        ) as display:
            self.display = display
            try:
                yield
            finally:
                self.display = None

    def _show_plan(self, plan: ReplayPlan) -> None:
        shown, self.plan_shown = self.plan_shown, plan
        if shown is not None and (shown.steps, shown.tables) == (plan.steps, plan.tables):
            # Planned again after the replay met rows changed since the move: the same steps
            # and tables, scanned column by column; only what the scan found is new.
            self._lines(render.render_rescan(plan))
            return
        self._lines(render.render_plan(plan, execute=self.executing))

    def _phase(self, name: str) -> None:
        if self.display is not None:
            self.display.phase(name)
            return
        elapsed = time.monotonic() - self.started
        self._progress(phase_line(name, datetime.now(UTC), elapsed))

    def _step(self, step: StepDone) -> None:
        if self.display is not None:
            self.display.step(step)
            return
        self._progress(render.step_line(step))

    def _progress(self, line: str) -> None:
        """Progress goes to stdout with the text, to stderr with --format json; -v 0: none."""
        if self.verbosity == 0:
            return
        (self.stderr if self.json else self.stdout).write(line)

    # --- the outcome, once the transaction is over -----------------------------------------

    def _done(self, report: ReplayReport) -> None:
        if self.json:
            self.stdout.write(render.to_json(report))
            return
        if self.verbosity == 0:
            if report.executed:  # only now: the revert has committed
                self.stdout.write(f"revert {report.revert_move_id} digest {report.digest}")
            return
        self._lines(render.render_outcome(report, self.plan_shown))

    def _would_be_refused(self, report: ReplayReport) -> None:
        reasons = render.reasons(report)
        message = "DRY RUN: the revert would be refused, nothing was changed:\n" + "\n".join(
            f"- {c.message}" for c in reasons
        )
        if self.json:
            self.stdout.write(render.refusal_json(message, report))
        else:
            self._lines(render.render_outcome(report, self.plan_shown))
        raise CommandError(message, returncode=EXIT_WOULD_BE_REFUSED)

    def _refuse(self, message: str, report: ReplayReport | None, exc: Exception) -> None:
        if self.json:
            self.stdout.write(render.refusal_json(message, report))
        else:
            if report is not None and self.plan_shown is not None:
                shown = len(self.plan_shown.conflicts)
                later = report.plan.conflicts[shown:]
                if later:
                    self._lines(render.render_conflicts(report.plan, later))
            self._lines(render.render_refusal(message, report))
        raise CommandError(message) from exc

    def _fail(self, message: str) -> NoReturn:
        """A request that cannot be carried out at all (bad flags, no such move); with
        --format json still one document."""
        if self.json:
            self.stdout.write(render.refusal_json(message, None))
        raise CommandError(message)

    def _lines(self, lines: render.Lines) -> None:
        if self.json or self.verbosity == 0:
            return
        styles = {
            "warning": self.style.WARNING,
            "error": self.style.ERROR,
            "success": self.style.SUCCESS,
        }
        for style, line in lines:
            if self.display is not None:
                self.display.print_styled(style, line)
            else:
                self.stdout.write(styles[style](line) if style else line)
