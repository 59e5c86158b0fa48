"""Move deployments, and everything hanging off them, to another project.

Dry run by default: prints the full analysis and its plan digest, and writes nothing.
``--execute`` plans again under the move's locks and runs the move in one transaction
(recorded by the ledger); with ``--expect-plan`` it refuses when that plan is not the one the
dry run showed. It validates before commit and rolls back on failure.

    python manage.py move_project_data --source-project 7 --target-project 20 \
        --deployment-ids 61,62 --reason "stations handed over" [--execute]

Verbosity: ``-v 0`` prints only the move id and digest, once committed; ``-v 1`` the plan,
each phase as it starts (a rich display on a terminal, one timestamped line each otherwise),
each step's result and the report; ``-v 2`` adds each step's time and SQL statement count.

The work is done by ``ami.move``; this command parses, calls, renders and translates errors.
See docs/operator-guide.md.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from ami.move import MoveError, MoveRequest, build_plan, cli, execute_move, plan_digest
from ami.move import report as render
from ami.move.errors import ValidationFailed
from ami.move.structs import MovePlan, MoveReport
from ledger.interrupts import cancel_on_interrupt, signal_name


class Command(BaseCommand):
    help = (
        "Move deployments, and everything hanging off them, to another project.\n"
        "Dry run by default; --execute writes, in one transaction recorded by the ledger."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", cli.HelpFormatter)
        return super().create_parser(prog_name, subcommand, epilog=cli.EPILOG, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        cli.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        self.json = options["format"] == "json"
        self.verbosity = options.get("verbosity", 1)
        self.silent = self.verbosity == 0
        self.progress: render.PhaseLog | None = None
        try:
            request = cli.request_from(options)
            # Ctrl-C (or SIGTERM) cancels the statement running, whatever the driver
            # (ledger.interrupts); the move then rolls back and says so in one line.
            with cancel_on_interrupt():
                if request.execute:
                    self._execute(request, options)
                else:
                    self._dry_run(request)
        except ValidationFailed as exc:
            self._emit(render.render_checks(exc.report))
            self._fail(exc, exc.report)
        except MoveError as exc:
            self._fail(exc)

    def _dry_run(self, request: MoveRequest) -> None:
        try:
            plan = build_plan(request)
        except KeyboardInterrupt as exc:
            raise MoveError(
                f"The dry run was interrupted ({signal_name(exc)}): nothing was changed"
            ) from exc
        digest = plan_digest(plan)
        self._show_plan(plan)
        self._emit(render.dry_run_done(digest))
        if self.json:
            report = MoveReport(plan=plan, executed=False, ok=True, plan_digest=digest)
            self.stdout.write(render.to_json(report))

    def _execute(self, request: MoveRequest, options: dict[str, Any]) -> None:
        statements = _StatementCounter()
        with connection.execute_wrapper(statements), self._phases(statements) as progress:
            self.progress = progress
            try:
                report = execute_move(
                    request,
                    expect_plan=options["expect_plan"],
                    lock_timeout=options["lock_timeout"],
                    on_plan=self._show_plan,
                    on_step=progress.step,
                    on_phase=progress.phase,
                )
            finally:
                self.progress = None
        if self.silent:  # only now: the transaction has committed
            self.stdout.write(render.move_done(report).text)
        self._emit(render.render_report(report))
        if self.json:
            self.stdout.write(render.to_json(report))

    def _phases(self, statements: _StatementCounter) -> render.PhaseLog:
        """On a terminal a rich display; else a line per phase (stderr with --format json)."""
        detail = self.verbosity >= 2
        if self.silent:
            return render.PhaseLog(lambda line: None)
        if not self.json and self.stdout.isatty():
            file = getattr(self.stdout, "_out", self.stdout)
            return render.PhaseDisplay(file, statements.total, detail)
        write = self.stderr.write if self.json else self._write
        return render.PhaseLog(lambda line: write(line.text), statements.total, detail)

    def _show_plan(self, plan: MovePlan) -> None:
        self._emit(render.header(plan.request.execute))
        self._emit(render.render_plan(plan))
        if plan.request.execute:
            self._emit([render.Line("HTTP_INFO", ""), render.Line("HTTP_INFO", "EXECUTING")])

    def _fail(self, exc: MoveError, report: MoveReport | None = None) -> None:
        if self.json:
            self.stdout.write(render.failure_json(str(exc), report))
        raise CommandError(str(exc)) from exc

    def _emit(self, lines: list[render.Line]) -> None:
        """Human lines go to stdout (above the progress display, while there is one); with
        --format json they are dropped (one document only)."""
        if self.json or self.silent:
            return
        if isinstance(self.progress, render.PhaseDisplay):
            self.progress.lines(lines)
            return
        for line in lines:
            self._write(line.text, line.style)

    def _write(self, text: str, style: str | None = None) -> None:
        styled = getattr(self.style, style) if style else None
        self.stdout.write(styled(text) if styled else text)


class _StatementCounter:
    """Counts the SQL statements the move runs (``connection.execute_wrapper``)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def total(self) -> int:
        return self.count
