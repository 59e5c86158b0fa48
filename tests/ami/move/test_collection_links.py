"""[all-images] and [clone-labelstudio-configs]: no second "All Images" on the target, and
Label Studio configs follow split collections."""

from __future__ import annotations

import pytest

from ami.jobs.models import Job
from ami.labelstudio.models import LabelStudioConfig
from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import Project, SourceImageCollection
from tests.ami.move.commands import dump, move_to, revert, run_move
from tests.builders import (
    add_deployment,
    make_collection,
    make_job,
    make_project,
    make_user,
    setup_source,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    src = setup_source(3)
    staying = add_deployment(src.project, "Dep B", 2)
    all_images = make_collection(
        src.project, [*src.images, *staying.images], name="All Images", method="full"
    )
    return src, staying, all_images


def _all_images(project: Project) -> list[SourceImageCollection]:
    return list(SourceImageCollection.objects.filter(project=project, name__startswith="All"))


def _image_ids(collection: SourceImageCollection) -> set[int]:
    return set(collection.images.values_list("pk", flat=True))


def test_split_all_images_merges_into_the_targets_own(world):
    src, staying, source_all = world
    target = make_project("Target", make_user("target-owner"))
    own_image = add_deployment(target, "Target dep", 1).images[0]
    own = make_collection(target, [own_image, src.images[0]], name="All Images", method="full")
    job = make_job(src.project, deployment=src.dep, source_image_collection=source_all)
    out = run_move(src.project, [src.dep.pk], target=target, execute=False)
    assert (
        f"'All Images' (id={source_all.pk}): its 3 moved image(s) will MERGE into the "
        f"target's own 'All Images' (id={own.pk}); no second copy"
    ) in out
    out = run_move(src.project, [src.dep.pk], target=target)
    # Straight into the target's: two links re-pointed, the one it held already deleted; no
    # copy is made, so [all-images] has nothing left to write.
    assert (
        f"'All Images' split: 2 moved image(s) joined the target's 'All Images' (id={own.pk}), "
        "1 it held already (rows=3/3)"
    ) in out
    assert "(rows=0/0)" in out.split("\n[all-images]")[1].splitlines()[0]
    assert _all_images(target) == [own]
    assert _image_ids(own) == {own_image.pk, *(i.pk for i in src.images)}
    assert _image_ids(source_all) == {i.pk for i in staying.images}
    assert Job.objects.get(pk=job.pk).source_image_collection_id == own.pk


def test_merge_and_its_revert_restore_every_row(world):
    src, _staying, _source_all = world
    target = make_project("Target", make_user("target-owner"))
    make_collection(target, [], name="All Images", method="full")
    refresh_project_cached_fields(Project.objects.values_list("pk", flat=True))
    before = dump()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    assert len(_all_images(target)) == 1
    revert(move_id, "--execute", "--reason", "undo")
    assert dump() == before


def test_a_created_target_adopts_the_split_all_images(world):
    src, staying, source_all = world
    out = run_move(src.project, [src.dep.pk], create="Split off", execute=False)
    assert "it will be the new project's 'All Images' (no empty one is created)" in out
    assert "(its 'All Images' is the source's)" in out
    run_move(src.project, [src.dep.pk], create="Split off")
    new = Project.objects.get(name="Split off")
    (adopted,) = _all_images(new)
    assert adopted.name == "All Images"
    assert adopted.pk != source_all.pk
    assert _image_ids(adopted) == {i.pk for i in src.images}
    assert _image_ids(source_all) == {i.pk for i in staying.images}


def test_a_created_target_adopts_an_all_images_that_moves_whole():
    src = setup_source(3)
    source_all = make_collection(src.project, src.images, name="All Images", method="full")
    run_move(src.project, [src.dep.pk], create="Split off")
    new = Project.objects.get(name="Split off")
    assert _all_images(new) == [source_all]


def test_an_all_images_that_moves_whole_is_renamed_beside_the_targets_own():
    src = setup_source(3)
    source_all = make_collection(src.project, src.images, name="All Images", method="full")
    target = make_project("Target", make_user("target-owner"))
    own = make_collection(target, [], name="All Images", method="full")
    out = run_move(src.project, [src.dep.pk], target=target, execute=False)
    assert "it will arrive RENAMED 'All Images (from Source Project)'" in out
    run_move(src.project, [src.dep.pk], target=target)
    source_all.refresh_from_db()
    assert source_all.project_id == target.pk
    assert source_all.name == "All Images (from Source Project)"
    assert SourceImageCollection.objects.get(pk=own.pk).name == "All Images"


def test_a_target_without_all_images_simply_receives_the_copy(world):
    src, _staying, _source_all = world
    target = make_project("Target", make_user("target-owner"))
    out = run_move(src.project, [src.dep.pk], target=target)
    assert "[all-images] No second 'All Images' on the target (rows=0/0)" in out
    assert [c.name for c in _all_images(target)] == ["All Images"]


# Label Studio ------------------------------------------------------------------------------


def _config(collection: SourceImageCollection) -> LabelStudioConfig:
    return LabelStudioConfig.objects.create(
        project_id=42,
        base_url="https://ls.example",
        access_token="TOKEN-DO-NOT-PRINT",
        s3_key_secret="S3-SECRET-DO-NOT-PRINT",
        s3_uri="s3://tasks/prefix",
        task_collection=collection,
    )


def test_a_config_on_a_split_collection_is_cloned_onto_the_target_copy(world):
    src, staying, _source_all = world
    sample = make_collection(
        src.project, [src.images[0], staying.images[0]], name="Sample", method="random"
    )
    config = _config(sample)
    target = make_project("Target", make_user("target-owner"))
    out = run_move(src.project, [src.dep.pk], target=target, execute=False)
    assert (
        f"Label Studio config id={config.pk} on collection id={sample.pk}: CLONE "
        "(a copy for the target, on the split collection's copy)"
    ) in out
    out = run_move(src.project, [src.dep.pk], target=target)
    assert "DO-NOT-PRINT" not in out
    copy = SourceImageCollection.objects.get(project=target, name="Sample")
    clone = LabelStudioConfig.objects.exclude(pk=config.pk).get()
    assert clone.task_collection_id == copy.pk
    assert (clone.project_id, clone.access_token, clone.s3_uri) == (
        42,
        "TOKEN-DO-NOT-PRINT",
        "s3://tasks/prefix",
    )
    assert LabelStudioConfig.objects.get(pk=config.pk).task_collection_id == sample.pk


def test_a_config_on_a_merged_all_images_stays_with_the_source(world):
    src, _staying, source_all = world
    config = _config(source_all)
    target = make_project("Target", make_user("target-owner"))
    make_collection(target, [], name="All Images", method="full")
    out = run_move(src.project, [src.dep.pk], target=target)
    assert f"config {config.pk}: stays on the source's collection (moved images merged)" in out
    assert LabelStudioConfig.objects.count() == 1


def test_a_config_follows_a_collection_that_moves_whole():
    src = setup_source(3)
    sample = make_collection(src.project, src.images, name="Sample", method="random")
    config = _config(sample)
    target = make_project("Target", make_user("target-owner"))
    out = run_move(src.project, [src.dep.pk], target=target, execute=False)
    assert f"config id={config.pk} on collection id={sample.pk}: FOLLOW" in out
    run_move(src.project, [src.dep.pk], target=target)
    assert LabelStudioConfig.objects.get().task_collection.project_id == target.pk


def test_revert_removes_a_cloned_config(world):
    src, staying, _source_all = world
    _config(make_collection(src.project, [src.images[0], staying.images[0]], name="Sample"))
    target = make_project("Target", make_user("target-owner"))
    refresh_project_cached_fields(Project.objects.values_list("pk", flat=True))
    before = dump()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    assert LabelStudioConfig.objects.count() == 2
    revert(move_id, "--execute", "--reason", "undo")
    assert dump() == before
