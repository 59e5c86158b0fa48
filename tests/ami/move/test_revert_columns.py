"""revert_move, issue 12 cases 1 and 3: drift per column (bookkeeping columns never drift,
``--skip-drifted`` leaves exactly the drifted columns), and re-applying a move whose rows a
later move re-created on a unique key: a conflict naming that move, never a traceback."""

from __future__ import annotations

import json
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import Deployment, Device, Event, Occurrence, Project, SourceImage
from ami.ml.models import ProjectPipelineConfig
from ledger.models import Move
from tests.ami.move.commands import dump, move, move_to, revert, revert_refused
from tests.builders import (
    make_pipeline,
    make_pipeline_config,
)

pytestmark = pytest.mark.django_db


def undo(move_id: int, *flags: str) -> str:
    return revert(move_id, "--execute", "--reason", "undo", *flags)


def test_an_ordinary_save_of_a_moved_deployment_does_not_block_the_revert(world):
    # Case 1: a description added with save() stamps updated_at, which the move wrote too.
    before = dump()
    move_id = move_to(world.src.project.pk, world.target.pk, world.src.dep.pk)
    dep = Deployment.objects.get(pk=world.src.dep.pk)
    dep.description = "added later"
    dep.save(update_calculated_fields=False)
    stamped = Deployment.objects.get(pk=dep.pk).updated_at
    dry = revert(move_id)
    assert "No conflicts before the replay." in dry
    assert "DRY RUN COMPLETE: the revert would succeed" in dry
    undo(move_id)
    back = Deployment.objects.get(pk=dep.pk)
    assert back.project_id == world.src.project.pk
    assert (back.description, back.updated_at) == ("added later", stamped)
    for model in (Event, SourceImage, Occurrence):
        assert set(model.objects.filter(deployment=dep).values_list("project_id", flat=True)) == {
            world.src.project.pk
        }
    after = dump()
    # Every other row is exactly as before the move; the deployment keeps the later edit.
    assert {t: rows for t, rows in after.items() if t != "main_deployment"} == {
        t: rows for t, rows in before.items() if t != "main_deployment"
    }


def _copy_settings_then_edit_one(world: SimpleNamespace) -> tuple[int, Project]:
    Project.objects.filter(pk=world.src.project.pk).update(
        default_filters_score_threshold=0.3, session_time_gap_seconds=600
    )
    refresh_project_cached_fields([world.src.project.pk])
    original = Project.objects.get(pk=world.target.pk)
    move_id = move_to(world.src.project.pk, world.target.pk, world.src.dep.pk)
    Project.objects.filter(pk=world.target.pk).update(default_filters_score_threshold=0.7)
    return move_id, original


def test_drift_is_reported_per_column_with_both_values(world):
    move_id, _original = _copy_settings_then_edit_one(world)
    dry = revert_refused(move_id)
    assert (
        "[drift] BLOCKS: 1 row(s) of main_project changed since in column "
        "default_filters_score_threshold (the move left 0.3, today 0.7)"
    ) in dry
    assert f"(e.g. {world.target.pk})" in dry
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("revert_move", str(move_id), "--format", "json", stdout=out)
    [drift] = [c for c in json.loads(out.getvalue())["plan"]["conflicts"] if c["kind"] == "drift"]
    assert (drift["table"], drift["column"]) == ("main_project", "default_filters_score_threshold")
    assert (drift["after_value"], drift["current_value"]) == ("0.3", "0.7")
    assert drift["sample"] == [str(world.target.pk)]


def test_skip_drifted_leaves_exactly_the_drifted_column_and_restores_the_rest(world):
    move_id, original = _copy_settings_then_edit_one(world)
    undo(move_id, "--skip-drifted")
    target = Project.objects.get(pk=world.target.pk)
    assert target.default_filters_score_threshold == 0.7  # the later edit is kept
    assert target.session_time_gap_seconds == original.session_time_gap_seconds  # restored
    assert Deployment.objects.get(pk=world.src.dep.pk).project_id == world.src.project.pk
    record = Move.objects.get(reverts_id=move_id).arguments
    assert record["skipped_columns"] == {
        "main_project": {"default_filters_score_threshold": [str(world.target.pk)]}
    }
    assert "main_project" not in record["skipped"]


def test_reapplying_a_move_whose_unique_keys_a_later_move_took_is_a_conflict(world):
    # Case 3: move 1 clones the source's pipeline config into the target; its revert deletes
    # the clone; a later move clones it again; re-applying move 1 must not crash.
    make_pipeline_config(world.src.project, make_pipeline("Moths"))
    first = move_to(world.src.project.pk, world.target.pk, world.src.dep.pk)
    assert ProjectPipelineConfig.objects.filter(project=world.target).count() == 1
    undo(first)
    undone = Move.objects.get(reverts_id=first).pk
    later = move_to(world.src.project.pk, world.target.pk, world.staying.dep.pk)
    state = dump()
    dry = revert_refused(undone)
    assert "[unique] BLOCKS" in dry
    assert (
        "that the revert must re-insert would clash on the unique key (pipeline_id, "
        "project_id) with row(s) created since"
    ) in dry
    assert f"written by move {later}): revert move {later} first" in dry
    out = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("revert_move", str(undone), "--format", "json", stdout=out)
    assert refused.value.returncode == 2
    document = json.loads(out.getvalue())
    assert (document["ok"], document["executed"]) == (False, False)
    unique = [
        c
        for c in document["plan"]["conflicts"]
        if c["kind"] == "unique" and c["table"] == "ml_projectpipelineconfig"
    ]
    assert [(c["columns"], c["later_move"]) for c in unique] == [
        (["pipeline_id", "project_id"], later)
    ]
    text = StringIO()
    with pytest.raises(CommandError, match=r"revert refused, nothing was changed"):
        call_command(
            "revert_move", str(undone), "--execute", "--reason", "redo", "--skip-drifted",
            stdout=text,
        )  # fmt: skip
    assert "REVERT REFUSED" in text.getvalue()
    assert dump() == state


def test_a_renamed_clone_is_drift_in_its_column_and_skip_drifted_keeps_it_whole(world):
    move_id = move_to(world.src.project.pk, world.target.pk, world.src.dep.pk)
    clone = Device.objects.get(project=world.target, name=world.src.device.name)
    Device.objects.filter(pk=clone.pk).update(name="Renamed clone")
    dry = revert_refused(move_id)
    assert (
        f'1 row(s) of main_device changed since in column name (the move left "'
        f'{world.src.device.name}", today "Renamed clone")'
    ) in dry
    undo(move_id, "--skip-drifted")
    assert Device.objects.get(pk=clone.pk).name == "Renamed clone"  # a created row: kept whole
    assert Deployment.objects.get(pk=world.src.dep.pk).device_id == world.src.device.pk
    record = Move.objects.get(reverts_id=move_id).arguments
    assert record["skipped"] == {"main_device": [str(clone.pk)]}


def test_a_row_to_re_insert_whose_parent_was_deleted_since_is_refused_not_a_crash(world):
    # The move takes the moved images out of the mixed collection (link rows deleted); one of
    # those images is deleted since. Re-inserting its link would break a foreign key at
    # commit: the dry run says so, and --execute refuses, both before any commit.
    move_id = move(
        "--source-project", str(world.src.project.pk), "--target-project", str(world.target.pk),
        "--deployment-ids", str(world.src.dep.pk), "--no-clone-collections", "--reason", "t",
    )  # fmt: skip
    SourceImage.objects.filter(pk=world.src.images[0].pk).delete()
    state = dump()
    dry = revert_refused(move_id, "--skip-drifted")
    assert "[reference] BLOCKS: after the replay a constraint does not hold" in dry
    assert "main_sourceimagecollection_images" in dry
    out = StringIO()
    with pytest.raises(CommandError, match=r"after the replay a constraint does not hold"):
        call_command(
            "revert_move", str(move_id), "--execute", "--reason", "undo", "--skip-drifted",
            stdout=out,
        )  # fmt: skip
    assert "REVERT REFUSED" in out.getvalue()
    assert dump() == state
