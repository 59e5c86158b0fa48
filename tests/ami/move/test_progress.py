"""move_project_data --execute names each phase as it starts; verbosity levels mean something;
counts carry thousands separators; the per-deployment breakdown prints once."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

from ami.move import report as render
from ami.move.structs import StepResult
from ledger.models import Move
from tests.builders import make_project, make_user, setup_source

pytestmark = pytest.mark.django_db

PHASE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \+\d+\.\ds (?P<name>.+)$")


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def args():
    s = setup_source(3)
    target = make_project("Target", make_user("owner"))
    return [
        "--source-project", str(s.project.pk), "--target-project", str(target.pk),
        "--deployment-ids", str(s.dep.pk), "--reason", "handover", "--execute",
    ]  # fmt: skip


def execute(*args: str, stdout: StringIO | None = None, **options: object) -> str:
    out = stdout or StringIO()
    call_command("move_project_data", *args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def test_piped_output_has_one_timestamped_line_per_phase_in_order(args):
    out = execute(*args)
    phases = [m["name"] for line in out.splitlines() if (m := PHASE.match(line))]
    assert phases[:3] == ["installing capture", "locking", "planning"]
    assert phases[-2:] == ["sealing", "checks"]  # checked last, once sealed
    assert "[move-images]" in phases
    assert phases.index("[move-images]") < phases.index("checks")
    lines = out.splitlines()
    started = next(i for i, line in enumerate(lines) if line.endswith(" [move-images]"))
    assert lines[started + 1].startswith("[move-images] ")  # its result follows its start
    assert re.search(r"^\[move-images\] .*\(rows=3/3\)$", out, re.MULTILINE)
    assert out.count("Per-deployment breakdown") == 1
    assert "MOVE COMPLETE" in out


def test_verbosity_0_prints_only_the_move_id_and_digest(args):
    out = execute(*args, verbosity=0)
    move = Move.objects.get()
    assert out == f"move {move.pk} digest {move.digest}\n"


def test_verbosity_2_adds_each_steps_time_and_statement_count(args):
    out = execute(*args, verbosity=2)
    line = re.search(r"^\[move-images\] .*$", out, re.MULTILINE).group(0)
    found = re.search(r"\(rows=3/3\) (\d+\.\d\d) s, (\d+) statement\(s\)$", line)
    assert found, line
    assert int(found.group(2)) >= 1
    assert "[create-target]" in out


def test_terminal_shows_a_rich_display_of_phases_and_steps(args):
    out = execute(*args, stdout=Terminal())
    assert "\x1b[" in out  # drawn for a terminal
    for name in ("installing capture", "locking", "planning", "checks", "sealing"):
        assert name in out
    assert "[move-images]" in out
    assert "✓" in out
    assert not PHASE.search(out)  # no log lines on a terminal
    assert out.count("Per-deployment breakdown") == 1
    assert "MOVE COMPLETE" in out


def test_counts_carry_thousands_separators():
    step = StepResult(label="[move-images]", action="update", rows=73008, expected_rows=73008)
    assert render.render_step(step).text == "[move-images] (rows=73,008/73,008)"
    assert render.render_step(step, 1.5, 1200).text.endswith(
        "(rows=73,008/73,008) 1.50 s, 1,200 statement(s)"
    )


def test_rows_outside_the_source_are_named_not_printed_as_a_dict(args):
    from ami.move import build_plan
    from ami.move.cli import request_from

    i = args.index("--deployment-ids")
    request = request_from(
        {
            "source_project": int(args[1]), "target_project": int(args[3]),
            "create_project": None, "deployment_ids": args[i + 1], "no_clone_pipelines": False,
            "no_clone_collections": False, "execute": False, "fire_post_save": False,
            "preserve_roles": False, "keep_target_settings": False, "allow_running_jobs": False,
            "reason": "", "operator": "7", "expect_plan": None, "lock_timeout": 10.0,
        }
    )  # fmt: skip
    plan = build_plan(request)
    plan = type(plan)(**{**{f: getattr(plan, f) for f in plan.__struct_fields__},
                         "foreign_rows": {"source_images": 1200, "events": 0}})  # fmt: skip
    warning = next(line.text for line in render.render_plan(plan) if "retagged too" in line.text)
    assert warning.endswith("retagged too: source_images=1,200")
