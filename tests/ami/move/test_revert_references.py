"""New data found by reference, not by clock (issue 12, item 5): rows that point at moved rows
through any foreign key and that the move did not write, whatever their timestamps."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.core.management.base import CommandError
from django.db import connection, transaction

from ami.jobs.models import Job
from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.models import Detection, Identification, SourceImage
from ami.move.references import load_keys, referencing_tables
from ledger.models import Move
from tests.ami.move.commands import dump, move_to, revert
from tests.builders import add_deployment, make_project, make_user, setup_source

pytestmark = pytest.mark.django_db

LONG_AGO = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def world() -> SimpleNamespace:
    src = setup_source(3, with_identifications=True)
    target = make_project("Target", make_user("target-owner"))
    refresh_project_cached_fields([src.project.pk, target.pk])
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    return SimpleNamespace(src=src, target=target, move_id=move_id)


def test_a_target_job_on_a_moved_capture_without_deployment_is_new_data(world):
    src, target = world.src, world.target
    job = Job.objects.create(name="late", project=target, source_image_single=src.images[0])
    Job.objects.filter(pk=job.pk).update(created_at=LONG_AGO, updated_at=LONG_AGO)
    state = dump()
    with pytest.raises(
        CommandError,
        match=rf"1 row\(s\) of jobs_job were added to the moved deployments in project "
        rf"{target.pk} after the move: pass --carry-new-data .*jobs_job.source_image_single_id",
    ):
        revert(world.move_id, "--execute", "--reason", "undo")
    assert dump() == state
    # Carried back with the capture it points at: no cross-project link is left.
    text = revert(world.move_id, "--execute", "--reason", "undo", "--carry-new-data")
    assert "job-cross-links" in text
    assert Job.objects.get(pk=job.pk).project_id == src.project.pk
    assert SourceImage.objects.get(pk=src.images[0].pk).project_id == src.project.pk


def test_an_identification_with_an_old_created_at_is_new_data(world):
    """Imported or synced since the move, dated before it: still found (by id watermark)."""
    src = world.src
    late = Identification.objects.create(
        user=make_user("synced"), taxon=src.order, occurrence=src.occurrences[0]
    )
    Identification.objects.filter(pk=late.pk).update(created_at=LONG_AGO, updated_at=LONG_AGO)
    state = dump()
    with pytest.raises(
        CommandError,
        match=r"1 identification\(s\) of moved occurrences were made after the move: pass "
        r"--carry-new-data",
    ):
        revert(world.move_id, "--execute", "--reason", "undo")
    assert dump() == state
    revert(world.move_id, "--execute", "--reason", "undo", "--carry-new-data")
    assert Move.objects.filter(reverts_id=world.move_id).exists()


def test_a_detection_on_a_moved_capture_is_new_data(world):
    src = world.src
    Detection.objects.create(source_image=src.images[1], bbox=[1, 1, 5, 5])
    with pytest.raises(
        CommandError,
        match=r"1 row\(s\) of main_detection referencing moved rows were made after the move: "
        rf"pass --carry-new-data .* project {src.project.pk} "
        r"\(found through main_detection.occurrence_id, main_detection.source_image_id\)",
    ):
        revert(world.move_id, "--execute", "--reason", "undo")


def test_rows_from_before_the_move_are_not_new_data(world):
    """The identifications, detections and classifications the moved rows had are not
    flagged, nor are rows the move wrote: a plain round trip has no conflict."""
    text = revert(world.move_id)
    assert "new-data" not in text
    assert "were made after the move" not in text
    assert "DRY RUN COMPLETE" in text


def test_the_foreign_keys_come_from_the_catalog():
    tables = {r.table: r for r in referencing_tables(["main_sourceimage", "main_occurrence"])}
    assert ("source_image_single_id", "main_sourceimage") in tables["jobs_job"].links
    assert tables["main_identification"].links == (("occurrence_id", "main_occurrence"),)
    assert not tables["main_identification"].has_project
    assert "main_sourceimagecollection_images" not in tables  # a conflict of its own


def test_new_rows_on_another_station_are_not_carried(world):
    """A capture of one of the target's own stations filed under a moved event: carrying it to
    the source would split it from its station, so it is a conflict no flag resolves."""
    src, target = world.src, world.target
    own = add_deployment(target, "Target's own", 0).dep
    late = SourceImage.objects.create(
        path="late.jpg", deployment=own, project=target, event=src.event
    )
    for flags in ((), ("--carry-new-data",)):
        with pytest.raises(
            CommandError,
            match=rf"1 row\(s\) of main_sourceimage on other stations of project {target.pk} "
            r"reference rows the move moved and came after it: point them elsewhere first",
        ):
            revert(world.move_id, "--execute", "--reason", "undo", *flags)
    assert SourceImage.objects.get(pk=late.pk).project_id == target.pk


def _keys() -> set[tuple[str, str, bool, str | None]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name, pk, moved, before_project FROM pg_temp.ami_move_keys")
        return set(cursor.fetchall())


def test_keys_load_per_table_and_add_up_to_the_whole_move(world):
    with transaction.atomic():
        everything = (load_keys(world.move_id), _keys())
        transaction.set_rollback(True)
    with transaction.atomic():
        load_keys(world.move_id, ["main_deployment"])
        assert {table for table, *_ in _keys()} == {"main_deployment"}
        load_keys(world.move_id, ["main_deployment", "main_event"])
        assert {table for table, *_ in _keys()} == {"main_deployment", "main_event"}
        moved = load_keys(world.move_id)
        assert (moved, _keys()) == everything
        assert "main_sourceimage" in moved
        transaction.set_rollback(True)


def test_another_moves_keys_replace_the_first_ones(world):
    src, target = world.src, world.target
    back = move_to(target.pk, src.project.pk, src.dep.pk)
    with transaction.atomic():
        load_keys(back)
        theirs = _keys()
        transaction.set_rollback(True)
    with transaction.atomic():
        load_keys(world.move_id, ["main_deployment"])
        load_keys(back)
        assert _keys() == theirs
        transaction.set_rollback(True)
