"""The flags of ``move_project_data``, and the request they describe.

Kept apart from the command so the command only parses, calls, renders and translates.
"""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter
from typing import Any

from django.core.management.base import CommandParser, DjangoHelpFormatter

import ledger
from ami.move.apply import DEFAULT_LOCK_TIMEOUT
from ami.move.errors import MoveError
from ami.move.plan import parse_deployment_ids
from ami.move.plan_digest import parse_digest
from ami.move.structs import MoveRequest
from ledger.tuning import lock_timeout_problem

EPILOG = r"""examples:
  python manage.py move_project_data --source-project 7 --target-project 20 \
      --deployment-ids 61,62                                                 # dry run
  python manage.py move_project_data --source-project 7 --target-project 20 \
      --deployment-ids 61,62 --reason "TICKET-12: wrong project" --execute \
      --expect-plan 0123456789abcdef-0123456789abcdef0123456789abcdef01234567
  python manage.py move_project_data --source-project 7 --create-project "Gamboa" \
      --deployment-ids 61 --no-clone-pipelines --no-clone-collections --format json

See docs/operator-guide.md."""


class HelpFormatter(DjangoHelpFormatter, RawDescriptionHelpFormatter):
    """Django's order of options; the examples laid out as written."""


def add_arguments(parser: CommandParser) -> None:
    """Every flag of ``move_project_data``, with its help text."""
    add = parser.add_argument
    add("--source-project", type=int, required=True, help="Source pk")
    add("--target-project", type=int, help="Existing target project pk")
    add("--create-project", type=str, help="Name of a new target project")
    add("--deployment-ids", type=str, required=True, help="e.g. 61,62")
    add(
        "--no-clone-pipelines",
        action="store_true",
        help="Do not copy the source's pipeline configs to the target (default: copy)",
    )
    add(
        "--no-clone-collections",
        action="store_true",
        help="A collection with moved and staying captures: only remove the moved ones "
        "(default: split it; a copy in the target gets them)",
    )
    add("--execute", action="store_true", help="Write (default: dry run)")
    add(
        "--fire-post-save",
        action="store_true",
        help="After the steps, save each moved deployment so post_save receivers run",
    )
    add(
        "--preserve-roles",
        action="store_true",
        help="Identifiers keep their source role on an existing target",
    )
    add(
        "--keep-target-settings",
        action="store_true",
        help="Do not replace the target's default filters and settings",
    )
    add(
        "--allow-running-jobs",
        action="store_true",
        help="Move even if a running job touches the moved data (default: refuse)",
    )
    add("--reason", type=str, default="", help="Why (stored with the move; required to execute)")
    add("--operator", type=str, default=None, help="Default: the OS user")
    add(
        "--expect-plan",
        metavar="DIGEST",
        help="With --execute: the plan digest of the dry run you reviewed; refuse if the "
        "plan changed since",
    )
    add(
        "--lock-timeout",
        type=float,
        default=DEFAULT_LOCK_TIMEOUT,
        metavar="SECONDS",
        help="Give up (changing nothing) when a lock is not granted within this time",
    )
    add(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: one document with the plan, steps, checks, move id and digest",
    )


def request_from(options: dict[str, Any]) -> MoveRequest:
    """The request the flags describe.

    Raises:
        MoveError: flags that do not go together, or a bad deployment list.
    """
    try:
        # The ledger's rules, as every command that records follows them.
        operator, reason = ledger.who_and_why(
            options["operator"], options["reason"], executing=options["execute"]
        )
    except ledger.LedgerError as exc:
        raise MoveError(str(exc)) from exc
    if options["expect_plan"] and not options["execute"]:
        raise MoveError("--expect-plan goes with --execute: drop it for a dry run")
    if options["expect_plan"]:
        parse_digest(options["expect_plan"])  # a malformed one refused before any lock
    if problem := lock_timeout_problem(options["lock_timeout"]):
        raise MoveError(problem)
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
        reason=reason,
        operator=operator,
    )
