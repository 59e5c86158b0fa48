"""Run moves and reverts through their commands, dump every registered table, read roles:
the helpers of the move tests, in one place."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

import ledger
from ami.main.models import Project
from ami.move.tracking import register_move_tables
from ami.users.models import User
from ami.users.roles import Role
from ledger.models import Move


def dump() -> dict[str, list]:
    """Every table a move writes and a revert restores (history tables grow), whole rows, in
    primary-key order. The move's tables are registered first: what is compared never depends
    on what earlier tests left in the registry."""
    register_move_tables()
    out = {}
    with connection.cursor() as cur:
        for spec in ledger.registered_tables():
            if not spec.replay:
                continue
            cur.execute(
                f"SELECT to_jsonb(t)::text FROM {connection.ops.quote_name(spec.table)} t "
                f"ORDER BY {connection.ops.quote_name(spec.pk)}"
            )
            out[spec.table] = [r[0] for r in cur.fetchall()]
    return out


def move(*args: str) -> int:
    if "--reason" not in args:
        args = (*args, "--reason", "test move")
    out = StringIO()
    call_command("move_project_data", *args, "--execute", "--format", "json", stdout=out)
    return Move.objects.order_by("-id").values_list("id", flat=True)[0]


def move_to(source: int, target: int, deployment: int, *, reason: str = "test") -> int:
    """Move one deployment from project ``source`` to the existing ``target``; the move's id."""
    return move(
        "--source-project", str(source), "--target-project", str(target),
        "--deployment-ids", str(deployment), "--reason", reason,
    )  # fmt: skip


def revert(move_id: int, *args: str) -> str:
    out = StringIO()
    call_command("revert_move", str(move_id), *args, stdout=out)
    return out.getvalue()


def revert_refused(move_id: int, *args: str) -> str:
    """A dry run that finds the revert would be refused: exit status 2; what it printed."""
    out = StringIO()
    with pytest.raises(CommandError, match=r"^DRY RUN: the revert would be refused") as refused:
        call_command("revert_move", str(move_id), *args, stdout=out)
    assert refused.value.returncode == 2
    return out.getvalue()


def move_output(*args: str, **kwargs: object) -> str:
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
    return move_output(*args, *flags)


def roles(user: User, project: Project) -> set[str]:
    """Names of the role classes ``user`` holds on ``project``."""
    return {r.__name__ for r in Role.user_roles(project, user)}


def primary_role(user: User, project: Project) -> str | None:
    role = Role.get_primary_role(project, user)
    return role.__name__ if role else None
