"""A move, its dry run and its revert run without JIT, and leave the session's setting as it
was (``ledger.tuning``)."""

from __future__ import annotations

import pytest
from django.db import connection

from ami.move import plan as plan_module
from ami.move.revert import MoveReplayHooks
from tests.ami.move.commands import move_output, move_to, revert
from tests.builders import make_project, make_user, setup_source

pytestmark = pytest.mark.django_db


def _jit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('jit')")
        return cursor.fetchone()[0]


def _spy(seen: dict[str, list[str]], name: str, original):
    def spied(*args, **kwargs):
        seen.setdefault(name, []).append(_jit())
        return original(*args, **kwargs)

    return spied


def test_a_move_its_dry_run_and_its_revert_run_without_jit(monkeypatch):
    src = setup_source(3, with_identifications=True)
    target = make_project("Target", make_user("target-owner"))
    with connection.cursor() as cursor:
        cursor.execute("SET jit = on")  # whatever the server's default
    seen: dict[str, list[str]] = {}
    monkeypatch.setattr(plan_module, "_build_plan", _spy(seen, "plan", plan_module._build_plan))
    for hook in ("lock", "conflicts", "after_replay"):
        monkeypatch.setattr(
            MoveReplayHooks, hook, _spy(seen, hook, getattr(MoveReplayHooks, hook))
        )
    move_output(
        "--source-project", str(src.project.pk), "--target-project", str(target.pk),
        "--deployment-ids", str(src.dep.pk),
    )  # fmt: skip
    assert _jit() == "on"  # the dry run's setting ended with its transaction
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    assert _jit() == "on"
    revert(move_id, "--execute", "--reason", "undo")
    assert _jit() == "on"
    assert seen == {
        "plan": ["off", "off"],  # the dry run's, the execute's under its locks
        "lock": ["off"],
        "conflicts": ["off"],
        "after_replay": ["off"],
    }
