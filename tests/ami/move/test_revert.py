"""revert_move: a move replayed backwards restores every row it touched, or refuses."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import Deployment, Device, Project, SourceImage
from ledger.models import Move
from tests.ami.move.commands import dump, move, move_to, revert, revert_refused
from tests.builders import add_deployment, make_collection, make_project, make_user, setup_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    src = setup_source(4, with_identifications=True)
    staying = add_deployment(src.project, "Dep B", 2, data_source=src.s3, device=src.device)
    make_collection(src.project, [*src.images, *staying.images], name="Mixed", method="random")
    target = make_project("Target", make_user("target-owner"))
    refresh_project_cached_fields([src.project.pk, target.pk])
    return src, staying, target


def test_move_then_revert_restores_every_registered_table(world):
    src, _staying, target = world
    before = dump()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    assert dump() != before
    revert(move_id, "--execute", "--reason", "undo")
    assert dump() == before


def test_revert_says_what_to_do_about_antennas_query_cache(world):
    src, _staying, target = world
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    assert "invalidate_cachalot" not in revert(move_id)  # a dry run changes nothing
    done = revert(move_id, "--execute", "--reason", "undo")
    assert done.splitlines()[-1].startswith("Antenna caches query results (django-cachalot)")
    assert "`python manage.py invalidate_cachalot` in Antenna" in done


def test_revert_of_created_project_removes_it(world):
    src, _staying, _target = world
    before = dump()
    move_id = move(
        "--source-project",
        str(src.project.pk),
        "--create-project",
        "Split off",
        "--deployment-ids",
        str(src.dep.pk),
        "--reason",
        "test",
    )
    assert Project.objects.filter(name="Split off").exists()
    revert(move_id, "--execute", "--reason", "undo")
    assert not Project.objects.filter(name="Split off").exists()
    assert dump() == before


def test_revert_of_revert_reapplies_the_move(world):
    src, _staying, target = world
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    after_move = dump()
    revert(move_id, "--execute", "--reason", "undo")
    revert_id = Move.objects.get(reverts_id=move_id).pk
    revert(revert_id, "--execute", "--reason", "redo")
    assert dump() == after_move


def test_dry_run_changes_nothing_and_lists_the_plan(world):
    src, _staying, target = world
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    state = dump()
    text = revert(move_id)
    assert "DRY RUN COMPLETE" in text
    assert "main_sourceimage: restore 4 row(s): project_id (4)" in text
    assert dump() == state
    assert not Move.objects.filter(reverts_id=move_id).exists()


def test_drift_met_by_the_replay_prints_the_plan_once_and_what_the_scan_found(world):
    """The replay meets a row changed since the move, rolls back and scans every column: the
    plan, printed already, is not printed again (an Antenna rerun saw it twice)."""
    src, _staying, target = world
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    # Dep B shares the device: the move cloned it; the station is on another device since.
    Deployment.objects.filter(pk=src.dep.pk).update(
        device=Device.objects.create(name="Cam 2", project=target)
    )
    text = revert_refused(move_id, "--reason", "undo")
    assert text.count("REVERT MOVE") == 1
    assert "Scanned again, every column (the steps and tables are as above):" in text
    assert text.count("[drift] BLOCKS: 1 row(s) of main_deployment") == 1


def test_drift_refuses_and_skip_drifted_leaves_the_row(world):
    src, _staying, target = world
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    third = make_project("Third", make_user("third"))
    elsewhere = add_deployment(third, "Dep C", 0).dep
    image = src.images[0]
    # Filed under another station of another project since (its project follows it).
    SourceImage.objects.filter(pk=image.pk).update(project=third, deployment=elsewhere)
    with pytest.raises(CommandError, match=r"1 row\(s\) of main_sourceimage changed since"):
        revert(move_id, "--execute", "--reason", "undo")
    assert SourceImage.objects.get(pk=src.images[1].pk).project_id == target.pk
    revert(move_id, "--execute", "--reason", "undo", "--skip-drifted")
    assert SourceImage.objects.get(pk=image.pk).project_id == third.pk
    assert SourceImage.objects.get(pk=src.images[1].pk).project_id == src.project.pk
    revert_move = Move.objects.get(reverts_id=move_id)
    assert revert_move.arguments["skipped"] == {"main_sourceimage": [str(image.pk)]}


def test_new_data_refuses_and_carry_new_data_takes_it_back(world):
    src, _staying, target = world
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    new = SourceImage.objects.create(path="late.jpg", deployment=src.dep, project=target)
    with pytest.raises(CommandError, match=r"1 row\(s\) of main_sourceimage were added"):
        revert(move_id, "--execute", "--reason", "undo")
    revert(move_id, "--execute", "--reason", "undo", "--carry-new-data")
    assert SourceImage.objects.get(pk=new.pk).project_id == src.project.pk
    assert Deployment.objects.get(pk=src.dep.pk).project_id == src.project.pk


def test_later_move_must_be_reverted_first(world):
    src, _staying, target = world
    first = move_to(src.project.pk, target.pk, src.dep.pk, reason="first")
    third = make_project("Third", make_user("third"))
    second = move_to(target.pk, third.pk, src.dep.pk, reason="second")
    with pytest.raises(CommandError, match=rf"revert the newest first \(revert_move {second}\)"):
        revert(first, "--execute", "--reason", "undo")
    revert(second, "--execute", "--reason", "undo")
    revert(first, "--execute", "--reason", "undo")
    assert Deployment.objects.get(pk=src.dep.pk).project_id == src.project.pk


def test_a_move_is_reverted_once(world):
    src, _staying, target = world
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    revert(move_id, "--execute", "--reason", "undo")
    with pytest.raises(CommandError, match=r"already reverted by move \d+"):
        revert(move_id, "--execute", "--reason", "again")


def test_deleting_a_referenced_clone_is_refused(world):
    src, _staying, target = world
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    clone = Device.objects.get(project=target, name=src.device.name)
    later = Deployment.objects.create(name="Later", project=target, device=clone)
    with pytest.raises(CommandError, match=r"reference, through device_id, rows of main_device"):
        revert(move_id, "--execute", "--reason", "undo")
    assert Deployment.objects.get(pk=later.pk).device_id == clone.pk


def test_unknown_move_is_a_command_error(db):
    with pytest.raises(CommandError, match=r"move 999 does not exist"):
        revert(999)


def test_execute_needs_a_reason(world):
    with pytest.raises(CommandError, match=r"--execute needs --reason"):
        revert(1, "--execute")
