"""Move deployments, and everything hanging off them, from one project to another.

Usage::

    from ami.move import MoveRequest, build_plan, apply_plan

    plan = build_plan(MoveRequest(source_project_id=7, target_project_id=20,
                                  deployment_ids=(61, 62)))
    report = apply_plan(plan)   # one transaction; raises MoveError on refusal or rollback
"""

from __future__ import annotations

from ami.move.apply import apply_plan
from ami.move.errors import MoveError
from ami.move.plan import build_plan, parse_deployment_ids
from ami.move.structs import MovePlan, MoveReport, MoveRequest

__all__ = [
    "MoveError",
    "MovePlan",
    "MoveReport",
    "MoveRequest",
    "apply_plan",
    "build_plan",
    "parse_deployment_ids",
]
