"""Move deployments, and everything hanging off them, from one project to another.

Usage::

    from ami.move import MoveRequest, build_plan, execute_move, plan_digest

    request = MoveRequest(source_project_id=7, target_project_id=20, deployment_ids=(61, 62),
                          reason="TICKET-12: stations filed under the wrong project")
    reviewed = plan_digest(build_plan(request))          # the dry run
    report = execute_move(request, expect_plan=reviewed)  # one transaction; MoveError on
                                                          # refusal or rollback
"""

from __future__ import annotations

from ami.move.apply import apply_plan, execute_move
from ami.move.errors import MoveError
from ami.move.plan import build_plan, parse_deployment_ids
from ami.move.plan_digest import plan_digest
from ami.move.structs import MovePlan, MoveReport, MoveRequest

__all__ = [
    "MoveError",
    "MovePlan",
    "MoveReport",
    "MoveRequest",
    "apply_plan",
    "build_plan",
    "execute_move",
    "parse_deployment_ids",
    "plan_digest",
]
