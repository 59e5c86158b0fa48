"""Move deployments, and everything hanging off them, to another project.

Dry run by default: prints the full analysis and writes nothing. ``--execute`` runs the move in
one transaction (recorded by the ledger), validates it before commit and rolls back on failure.

    python manage.py move_project_data --source-project 7 --target-project 20 \
        --deployment-ids 61,62 --reason "stations handed over" [--execute]

The work is done by ``ami.move``; this command parses, calls, renders and translates errors.
See docs/operator-guide.md.
"""

from __future__ import annotations

import getpass
from argparse import RawDescriptionHelpFormatter
from typing import Any

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)

from ami.move import MoveError, MoveRequest, apply_plan, build_plan, parse_deployment_ids
from ami.move import report as render
from ami.move.errors import ValidationFailed
from ami.move.structs import MoveReport, StepResult


def _default_operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class _HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's order of options; the examples laid out as written."""


class Command(BaseCommand):
    help = (
        "Move deployments, and everything hanging off them, to another project.\n"
        "Dry run by default; --execute writes, in one transaction recorded by the ledger."
    )
    epilog = r"""examples:
  python manage.py move_project_data --source-project 7 --target-project 20 \
      --deployment-ids 61,62 --reason "TICKET-12: wrong project"           # dry run
  python manage.py move_project_data --source-project 7 --target-project 20 \
      --deployment-ids 61,62 --reason "TICKET-12: wrong project" --execute
  python manage.py move_project_data --source-project 7 --create-project "Gamboa" \
      --deployment-ids 61 --no-clone-pipelines --no-clone-collections --format json

See docs/operator-guide.md."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, epilog=self.epilog, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source-project", type=int, required=True, help="Source pk")
        parser.add_argument("--target-project", type=int, help="Existing target project pk")
        parser.add_argument("--create-project", type=str, help="Name of a new target project")
        parser.add_argument("--deployment-ids", type=str, required=True, help="e.g. 61,62")
        parser.add_argument(
            "--no-clone-pipelines",
            action="store_true",
            help="Do not copy the source's pipeline configs to the target (default: copy)",
        )
        parser.add_argument(
            "--no-clone-collections",
            action="store_true",
            help="A collection with moved and staying captures: only remove the moved ones "
            "(default: split it; a copy in the target gets them)",
        )
        parser.add_argument("--execute", action="store_true", help="Write (default: dry run)")
        parser.add_argument(
            "--fire-post-save",
            action="store_true",
            help="After the steps, save each moved deployment so post_save receivers run",
        )
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
        parser.add_argument(
            "--allow-running-jobs",
            action="store_true",
            help="Move even if a job on a moved deployment is running (default: refuse)",
        )
        parser.add_argument("--reason", type=str, default="", help="Why (stored with the move)")
        parser.add_argument("--operator", type=str, default=None, help="Default: the OS user")
        parser.add_argument(
            "--format",
            choices=("text", "json"),
            default="text",
            help="json: one document with the plan, steps, checks, move id and digest",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.json = options["format"] == "json"
        self.silent = options.get("verbosity", 1) == 0
        try:
            request = MoveRequest(
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
                operator=options["operator"] or _default_operator(),
            )
            self._run(request)
        except ValidationFailed as exc:
            self._emit(render.render_checks(exc.report))
            if self.json:
                self.stdout.write(render.to_json(exc.report))
            raise CommandError(str(exc)) from exc
        except MoveError as exc:
            raise CommandError(str(exc)) from exc

    def _run(self, request: MoveRequest) -> None:
        self._emit(render.header(request.execute))
        plan = build_plan(request)
        self._emit(render.render_plan(plan))
        console = self._rich_console()
        if console is not None:
            console.print(render.deployment_table(plan))
        if not request.execute:
            self._emit(render.dry_run_done())
            if self.json:
                self.stdout.write(render.to_json(MoveReport(plan=plan, executed=False, ok=True)))
            return
        self._emit([render.Line("HTTP_INFO", ""), render.Line("HTTP_INFO", "EXECUTING")])
        if console is not None:
            with console.status("Moving…"):
                report = apply_plan(
                    plan, on_step=lambda s: console.print(render.render_step(s).text, markup=False)
                )
        else:
            report = apply_plan(plan, on_step=self._on_step)
        self._emit(render.render_report(report))
        if self.json:
            self.stdout.write(render.to_json(report))

    def _on_step(self, step: StepResult) -> None:
        self._emit([render.render_step(step)])

    def _emit(self, lines: list[render.Line]) -> None:
        """Human lines go to stdout; with --format json they are dropped (one document only)."""
        if self.json or self.silent:
            return
        for line in lines:
            style = getattr(self.style, line.style) if line.style else None
            self.stdout.write(style(line.text) if style else line.text)

    def _rich_console(self) -> Any:
        """A rich Console on terminals (tables, progress); None when piped or in JSON mode."""
        if self.json or not self.stdout.isatty():
            return None
        from rich.console import Console

        return Console(file=self.stdout._out)
