"""Generate demo data shaped like the real project the move command was first tried on.

Usage:
    python manage.py generate_demo_data --scale bci [--seed 0] [--reset] [--format json]
"""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter
from typing import Any

import msgspec
from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)

from ami.main.demo import SCALES, DemoDataExistsError, DemoResult, generate_demo_data


class _HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's order of options; the examples laid out as written."""


class Command(BaseCommand):
    help = "Generate demo projects, stations and observations (set-based), in one transaction."
    epilog = """examples:
  python manage.py generate_demo_data                       # tiny, on an empty database
  python manage.py generate_demo_data --scale bci --reset   # replace the demo data there
  python manage.py generate_demo_data --scale tiny --seed 3 --format json

See docs/demo-data.md."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        return super().create_parser(prog_name, subcommand, epilog=self.epilog, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale",
            choices=sorted(SCALES),
            default="tiny",
            help="How much data: tiny (~200 captures, 1 s; default), bci (the real project: "
            "102,000 captures, ~20 s), bci10 (ten times bci, ~3 min)",
        )
        parser.add_argument("--seed", type=int, default=0, help="same seed, same data")
        parser.add_argument("--reset", action="store_true", help="delete previous demo data first")
        parser.add_argument(
            "--format",
            choices=("text", "json"),
            default="text",
            help="json: one document with the counts and ids (default: text)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbose = options["verbosity"] >= 2 and options["format"] == "text"

        def on_step(label: str, seconds: float) -> None:
            if verbose:
                self.stdout.write(f"  {label}: {seconds:.2f} s")

        try:
            result = generate_demo_data(
                options["scale"], seed=options["seed"], reset=options["reset"], on_step=on_step
            )
        except DemoDataExistsError as exc:
            raise CommandError(
                f"{exc}: pass --reset to delete it and generate again, or use another database"
            ) from exc
        if options["format"] == "json":
            self.stdout.write(msgspec.json.encode(result).decode())
        elif options["verbosity"] >= 1:
            self.stdout.write(render_text(result))


def render_text(result: DemoResult) -> str:
    """Summary for operators: counts, timings and the ids a move command needs."""
    lines = [f"Demo data, scale {result.scale}, seed {result.seed}", "", "Rows per table:"]
    lines += [f"  {table:<36} {n:>10,}" for table, n in result.row_counts.items()]
    lines += ["", "Rows of the deployments to move:"]
    lines += [f"  {key:<36} {n:>10,}" for key, n in result.moved_counts.items()]
    moved = ",".join(str(pk) for pk in result.moved_deployment_ids)
    lines += [
        "",
        f"Source project {result.source_project_id}, target project "
        f"{result.target_project_id}, third project {result.third_project_id}",
        f"Deployments to move: {moved}; staying: "
        + ",".join(str(pk) for pk in result.staying_deployment_ids),
        "User ids: " + ", ".join(f"{k}={v}" for k, v in result.user_ids.items()),
        "",
        "Move command:",
        f"  python manage.py move_project_data --source-project {result.source_project_id}"
        f" --target-project {result.target_project_id} --deployment-ids {moved}",
        "",
        f"Elapsed: {result.elapsed_seconds:.1f} s",
    ]
    return "\n".join(lines)
