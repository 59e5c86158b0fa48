"""Move deployments, and everything hanging off them, to another project.

Dry run by default: prints the full analysis and its plan digest, and writes nothing.
``--execute`` plans again under the move's locks and runs the move in one transaction
(recorded by the ledger); with ``--expect-plan`` it refuses when that plan is not the one the
dry run showed. It validates before commit and rolls back on failure.

    python manage.py move_project_data --source-project 7 --target-project 20 \
        --deployment-ids 61,62 --reason "stations handed over" [--execute]

The work is done by ``ami.move``; this command parses, calls, renders and translates errors.
See docs/operator-guide.md.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

import ledger
from ami.move import (
    MoveError,
    MoveRequest,
    build_plan,
    execute_move,
    parse_deployment_ids,
    plan_digest,
)
from ami.move import report as render
from ami.move.apply import DEFAULT_LOCK_TIMEOUT
from ami.move.errors import ValidationFailed
from ami.move.structs import MovePlan, MoveReport, StepResult


class Command(BaseCommand):
    help = "Move deployments and their data from a source project to another project."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source-project", type=int, required=True, help="Source pk")
        parser.add_argument("--target-project", type=int, help="Existing target project pk")
        parser.add_argument("--create-project", type=str, help="Name of a new target project")
        parser.add_argument("--deployment-ids", type=str, required=True, help="e.g. 61,62")
        parser.add_argument("--no-clone-pipelines", action="store_true")
        parser.add_argument("--no-clone-collections", action="store_true")
        parser.add_argument("--execute", action="store_true", help="Write (default: dry run)")
        parser.add_argument("--fire-post-save", action="store_true")
        parser.add_argument(
            "--preserve-roles",
            action="store_true",
            help="Identifiers keep their source role on an existing target",
        )
        parser.add_argument(
            "--keep-target-settings",
            action="store_true",
            help="Do not replace the target's default filters and settings",
        )
        parser.add_argument("--allow-running-jobs", action="store_true")
        parser.add_argument(
            "--reason", type=str, default="", help="Why (stored with the move; required)"
        )
        parser.add_argument("--operator", type=str, default=None, help="Default: the OS user")
        parser.add_argument(
            "--expect-plan",
            metavar="DIGEST",
            help="With --execute: the plan digest of the dry run you reviewed; refuse if the "
            "plan changed since",
        )
        parser.add_argument(
            "--lock-timeout",
            type=float,
            default=DEFAULT_LOCK_TIMEOUT,
            metavar="SECONDS",
            help="Give up (changing nothing) when a lock is not granted within this time",
        )
        parser.add_argument("--format", choices=("text", "json"), default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        self.json = options["format"] == "json"
        self.silent = options.get("verbosity", 1) == 0
        try:
            request = self._request(options)
            if request.execute:
                self._execute(request, options)
            else:
                self._dry_run(request)
        except ValidationFailed as exc:
            self._emit(render.render_checks(exc.report))
            self._fail(exc, exc.report)
        except MoveError as exc:
            self._fail(exc)

    def _request(self, options: dict[str, Any]) -> MoveRequest:
        if options["execute"] and not (options["reason"] or "").strip():
            raise MoveError('--execute needs --reason "why" (it is stored with the move)')
        if options["expect_plan"] and not options["execute"]:
            raise MoveError("--expect-plan goes with --execute: drop it for a dry run")
        if options["lock_timeout"] <= 0:
            raise MoveError("--lock-timeout must be a positive number of seconds")
        return MoveRequest(
            source_project_id=options["source_project"],
            target_project_id=options["target_project"] or None,
            create_project=(options["create_project"] or "").strip() or None,
            deployment_ids=parse_deployment_ids(options["deployment_ids"]),
            clone_pipelines=not options["no_clone_pipelines"],
            clone_collections=not options["no_clone_collections"],
            execute=options["execute"],
            fire_post_save=options["fire_post_save"],
            preserve_roles=options["preserve_roles"],
            keep_target_settings=options["keep_target_settings"],
            allow_running_jobs=options["allow_running_jobs"],
            reason=options["reason"],
            operator=options["operator"] or ledger.default_operator(),
        )

    def _dry_run(self, request: MoveRequest) -> None:
        plan = build_plan(request)
        digest = plan_digest(plan)
        self._show_plan(plan)
        self._emit(render.dry_run_done(digest))
        if self.json:
            report = MoveReport(plan=plan, executed=False, ok=True, plan_digest=digest)
            self.stdout.write(render.to_json(report))

    def _execute(self, request: MoveRequest, options: dict[str, Any]) -> None:
        report = execute_move(
            request,
            expect_plan=options["expect_plan"],
            lock_timeout=options["lock_timeout"],
            on_plan=self._show_plan,
            on_step=self._on_step,
        )
        self._emit(render.render_report(report))  # only now: the transaction has committed
        if self.json:
            self.stdout.write(render.to_json(report))

    def _show_plan(self, plan: MovePlan) -> None:
        self._emit(render.header(plan.request.execute))
        self._emit(render.render_plan(plan))
        if plan.request.execute:
            self._emit([render.Line("HTTP_INFO", ""), render.Line("HTTP_INFO", "EXECUTING")])

    def _on_step(self, step: StepResult) -> None:
        self._emit([render.render_step(step)])

    def _fail(self, exc: MoveError, report: MoveReport | None = None) -> None:
        if self.json:
            self.stdout.write(render.failure_json(str(exc), report))
        raise CommandError(str(exc)) from exc

    def _emit(self, lines: list[render.Line]) -> None:
        """Human lines go to stdout; with --format json they are dropped (one document only)."""
        if self.json or self.silent:
            return
        for line in lines:
            style = getattr(self.style, line.style) if line.style else None
            self.stdout.write(style(line.text) if style else line.text)
