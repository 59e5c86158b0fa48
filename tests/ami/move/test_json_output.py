"""``--format json``: one JSON document with the plan, counts, steps, checks and ledger ids."""

from __future__ import annotations

import json

import msgspec
import pytest
from django.core.management.base import CommandError

from ami.move.steps import STEPS
from ami.move.structs import MoveReport
from tests.ami.move.commands import move_output
from tests.builders import make_project, make_user, setup_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def args():
    s = setup_source(3, with_identifications=True)
    target = make_project("Target", make_user("owner"))
    return [
        "--source-project", str(s.project.pk), "--target-project", str(target.pk),
        "--deployment-ids", str(s.dep.pk), "--format", "json", "--reason", "handover",
        "--operator", "alice",
    ], s  # fmt: skip


def test_dry_run_json_is_one_document_with_the_plan(args):
    flags, s = args
    out = move_output(*flags)
    report = msgspec.json.decode(out, type=MoveReport)  # exactly one document, typed
    assert report.executed is False
    assert report.move_id is None
    plan = report.plan
    assert plan.request.deployment_ids == (s.dep.pk,)
    assert (plan.request.reason, plan.request.operator) == ("handover", "alice")
    assert (plan.totals.source_images, plan.totals.occurrences, plan.totals.detections) == (
        3,
        3,
        3,
    )
    assert {r.kind: r.action for r in plan.resources} == {
        "s3": "reassign",
        "device": "reassign",
        "site": "reassign",
    }
    assert [p.user_id for p in plan.identifiers] == [s.identifier.pk]
    assert "DRY RUN" not in out


def test_execute_json_has_steps_checks_and_the_ledger_ids(args):
    flags, _ = args
    report = json.loads(move_output(*flags, "--execute"))
    assert report["executed"] is True
    assert report["ok"] is True
    assert [step["label"] for step in report["steps"]] == [label for label, _ in STEPS]
    assert all(check["ok"] for check in report["checks"])
    assert {c["name"] for c in report["checks"]} >= {"conservation", "members-and-roles"}
    assert isinstance(report["move_id"], int)
    assert len(report["digest"]) == 64
    assert report["target_after"]["source_images"] == 3


def test_errors_stay_command_errors_in_json_mode(args):
    flags, _ = args
    flags[flags.index("--deployment-ids") + 1] = "999999"
    with pytest.raises(CommandError, match=r"^Deployments not found: \[999999\]"):
        move_output(*flags)


def test_the_ledger_move_names_source_target_and_deployments_even_for_a_new_project(args):
    from ledger.models import Move

    flags, s = args
    i = flags.index("--target-project")
    flags[i : i + 2] = ["--create-project", "Brand new"]
    report = json.loads(move_output(*flags, "--execute"))
    new_id = report["target_project_id"]
    assert report["steps"][0]["created"]["project"] == [new_id]
    recorded = Move.objects.get(pk=report["move_id"])
    assert recorded.arguments["source_project"] == s.project.pk
    assert recorded.arguments["target_project"] == new_id
    assert recorded.arguments["deployment_ids"] == [s.dep.pk]
    assert (recorded.reason, recorded.operator) == ("handover", "alice")
