"""Small helpers shared by the move tests."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from ami.main.models import Project
from ami.users.models import User
from ami.users.roles import Role


def move(*args: str, **kwargs: object) -> str:
    """Run move_project_data and return what it printed (with a reason when none is given)."""
    if "--execute" in args and "--reason" not in args:
        args = (*args, "--reason", "test move")
    out = StringIO()
    call_command("move_project_data", *args, stdout=out, stderr=StringIO(), **kwargs)
    return out.getvalue()


def run_move(
    source: Project,
    deployments: list[int],
    *flags: str,
    target: Project | None = None,
    create: str | None = None,
    execute: bool = True,
) -> str:
    args = [
        "--source-project",
        str(source.pk),
        "--deployment-ids",
        ",".join(map(str, deployments)),
    ]
    if target is not None:
        args += ["--target-project", str(target.pk)]
    if create is not None:
        args += ["--create-project", create]
    if execute:
        args.append("--execute")
    return move(*args, *flags)


def roles(user: User, project: Project) -> set[str]:
    """Names of the role classes ``user`` holds on ``project``."""
    return {r.__name__ for r in Role.user_roles(project, user)}


def primary_role(user: User, project: Project) -> str | None:
    role = Role.get_primary_role(project, user)
    return role.__name__ if role else None
