"""A move's subjects, and ``list_moves --project``: a filter the move registers with the
ledger (the ledger knows no project)."""

from __future__ import annotations

from io import StringIO

import msgspec
import pytest
from django.core.management import CommandError, call_command

import ledger
from ami.main.models import Project
from tests.ami.move.commands import move_to, revert
from tests.builders import make_project, make_user, setup_source

pytestmark = pytest.mark.django_db


def listed(*args: str) -> list[dict]:
    out = StringIO()
    call_command("list_moves", "--format", "json", *args, stdout=out, stderr=StringIO())
    return msgspec.json.decode(out.getvalue())


@pytest.fixture
def world():
    src = setup_source(2)
    target = make_project("Target", make_user("target-owner"))
    return src, target


def test_a_move_is_sealed_with_its_projects_and_deployments_as_subjects(world):
    src, target = world
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    header, _ = ledger.read_header(move_id)
    assert header.subjects == {
        "source_project": src.project.pk,
        "target_project": target.pk,
        "deployment_ids": [src.dep.pk],
    }
    assert ledger.verify(move_id).ok


def test_list_moves_project_finds_the_move_and_its_revert_by_source_or_target(world):
    src, target = world
    other = make_project("Other", make_user("other-owner"))
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    revert(move_id, "--execute", "--reason", "undo")
    reverted = [m["id"] for m in listed()]
    assert len(reverted) == 2
    assert [m["id"] for m in listed("--project", str(src.project.pk))] == reverted
    assert [m["id"] for m in listed("--project", f"0{target.pk}")] == reverted
    assert listed("--project", str(other.pk)) == []
    assert [m["id"] for m in listed("--subject", f"deployment_ids={src.dep.pk}")] == reverted
    assert Project.objects.filter(pk=target.pk).exists()


@pytest.mark.parametrize("value", ["abc", "0", "-1", "7a", ""])
def test_list_moves_refuses_a_project_that_is_not_an_id(value):
    with pytest.raises(
        CommandError, match=rf"--project '{value}' is not a project id: pass a number, e\.g\. 7"
    ):
        call_command("list_moves", "--project", value, stdout=StringIO())


def test_the_project_filter_is_the_domains_not_the_ledgers():
    (found,) = [f for f in ledger.list_filters() if f.name == "project"]
    assert found.keys == ("source_project", "target_project")
