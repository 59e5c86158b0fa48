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

from importlib import import_module
from typing import TYPE_CHECKING

# Plain data and errors, safe to import while Django loads its apps.
from ami.move.errors import MoveError
from ami.move.plan_digest import plan_digest
from ami.move.structs import MovePlan, MoveReport, MoveRequest

if TYPE_CHECKING:
    from ami.move.apply import apply_plan, execute_move
    from ami.move.plan import build_plan, parse_deployment_ids

# ``ami.move`` is an app (ami.move.apps): Django imports this package before the models are
# ready, so what needs the models is imported on first use (PEP 562), not here.
_API = {
    "apply_plan": "ami.move.apply",
    "execute_move": "ami.move.apply",
    "build_plan": "ami.move.plan",
    "parse_deployment_ids": "ami.move.plan",
}


def __getattr__(name: str) -> object:
    if name not in _API:
        raise AttributeError(f"module 'ami.move' has no attribute {name!r}")
    return getattr(import_module(_API[name]), name)


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
