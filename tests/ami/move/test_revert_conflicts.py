"""revert_move: each conflict kind and policy flag, the dry run and JSON reports, a fault in the
middle of a replay, and the revert's own ledger record."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

import ledger
import ledger.replay.apply
from ami.jobs.models import Job
from ami.main.cached_fields import refresh_cached_fields, refresh_project_cached_fields
from ami.main.models import (
    Deployment,
    Event,
    Identification,
    Occurrence,
    Project,
    S3StorageSource,
    SourceImage,
    SourceImageCollection,
)
from ledger.models import Move, Step
from tests.ami.move.commands import dump, move, revert, revert_refused
from tests.builders import add_deployment, make_collection, make_project, make_user

pytestmark = pytest.mark.django_db


def move_to_target(world: SimpleNamespace, *extra: str) -> int:
    return move(
        "--source-project",
        str(world.src.project.pk),
        "--target-project",
        str(world.target.pk),
        "--deployment-ids",
        str(world.src.dep.pk),
        "--reason",
        "test",
        *extra,
    )


def move_to_new_project(world: SimpleNamespace) -> int:
    return move(
        "--source-project",
        str(world.src.project.pk),
        "--create-project",
        "Split off",
        "--deployment-ids",
        str(world.src.dep.pk),
        "--reason",
        "test",
    )


def undo(move_id: int, *flags: str) -> str:
    return revert(move_id, "--execute", "--reason", "undo", *flags)


def revert_of(move_id: int) -> Move:
    return Move.objects.get(reverts_id=move_id)


# New rows on a moved deployment, one builder per table: (table, make(world) -> row pk).
def _new_event(w: SimpleNamespace) -> int:
    return Event.objects.create(
        project=w.target, deployment=w.src.dep, group_by="late", start=w.src.event.start
    ).pk


def _new_occurrence(w: SimpleNamespace) -> int:
    return Occurrence.objects.create(
        project=w.target, deployment=w.src.dep, event=w.src.event, determination=w.src.species
    ).pk


def _new_job(w: SimpleNamespace) -> int:
    return Job.objects.create(name="late job", project=w.target, deployment=w.src.dep).pk


NEW_ROWS: dict[str, tuple[type, Callable[[SimpleNamespace], int]]] = {
    "main_event": (Event, _new_event),
    "main_occurrence": (Occurrence, _new_occurrence),
    "jobs_job": (Job, _new_job),
}


@pytest.mark.parametrize("table", sorted(NEW_ROWS))
def test_new_rows_on_a_moved_deployment_refuse_the_revert(world, table):
    move_id = move_to_target(world)
    model, make = NEW_ROWS[table]
    new_pk = make(world)
    state = dump()
    with pytest.raises(
        CommandError,
        match=rf"1 row\(s\) of {table} were added to the moved deployments in project "
        rf"{world.target.pk} after the move: pass --carry-new-data",
    ):
        undo(move_id)
    assert dump() == state
    assert model.objects.get(pk=new_pk).project_id == world.target.pk
    assert not Move.objects.filter(reverts_id=move_id).exists()


@pytest.mark.parametrize("table", sorted(NEW_ROWS))
def test_carry_new_data_takes_new_rows_back_and_records_the_step(world, table):
    move_id = move_to_target(world)
    model, make = NEW_ROWS[table]
    new_pk = make(world)
    undo(move_id, "--carry-new-data")
    assert model.objects.get(pk=new_pk).project_id == world.src.project.pk
    assert Deployment.objects.get(pk=world.src.dep.pk).project_id == world.src.project.pk
    reverted = revert_of(move_id)
    assert reverted.arguments["carry_new_data"] is True
    carry = Step.objects.get(move=reverted, label="[carry-new-data]")
    assert (carry.expected_rows, carry.captured_rows) == (1, 1)
    assert any(
        e.table == table and e.pk == str(new_pk) and e.op == "U"
        for e in ledger.entries(reverted.pk)
        if e.step_id == carry.pk
    )


def test_identifications_made_after_the_move_refuse_unless_carried(world):
    move_id = move_to_target(world)
    occurrence = world.src.occurrences[0]
    late = Identification.objects.create(
        user=make_user("late-identifier"), taxon=world.src.order, occurrence=occurrence
    )
    with pytest.raises(
        CommandError,
        match=r"1 identification\(s\) of moved occurrences were made after the move: "
        rf"pass --carry-new-data .* project {world.src.project.pk}",
    ):
        undo(move_id)
    undo(move_id, "--carry-new-data")
    assert Identification.objects.get(pk=late.pk).occurrence_id == occurrence.pk
    assert Occurrence.objects.get(pk=occurrence.pk).project_id == world.src.project.pk


def test_moved_images_put_into_a_target_collection_refuse_even_with_carry(world):
    move_id = move_to_target(world)
    theirs = make_collection(world.target, [world.src.images[0]], name="Target's own")
    state = dump()
    for flags in ((), ("--carry-new-data",), ("--carry-new-data", "--skip-drifted")):
        with pytest.raises(
            CommandError,
            match=rf"1 moved capture\(s\) were put into collections of project "
            rf"{world.target.pk} after the move: remove them from those collections first",
        ):
            undo(move_id, *flags)
        assert dump() == state
    theirs.images.clear()
    undo(move_id)
    assert SourceImage.objects.get(pk=world.src.images[0].pk).project_id == world.src.project.pk


def _new_deployment(project: Project) -> None:
    Deployment.objects.create(name="Later station", project=project)


def _new_collection(project: Project) -> None:
    SourceImageCollection.objects.create(name="Later collection", project=project)


@pytest.mark.parametrize(
    ("table", "make"),
    [("main_deployment", _new_deployment), ("main_sourceimagecollection", _new_collection)],
)
def test_rows_pointing_at_a_created_project_refuse_the_revert(world, table, make):
    move_id = move_to_new_project(world)
    created = Project.objects.get(name="Split off")
    make(created)
    state = dump()
    pattern = rf"1 row\(s\) of {table} reference, through project_id, rows of main_project"
    dry = revert_refused(move_id)
    assert "[dependent] BLOCKS" in dry
    assert "DRY RUN: the revert would be refused" in dry
    with pytest.raises(CommandError, match=pattern):
        undo(move_id, "--carry-new-data", "--skip-drifted")
    assert dump() == state
    assert Project.objects.filter(pk=created.pk).exists()


def test_a_changed_column_of_a_touched_table_refuses(world, monkeypatch):
    from ami.move.revert import MoveReplayHooks

    move_id = move_to_target(world)
    scanned = []
    # The domain's scans read the recorded columns: a schema conflict refuses before them.
    monkeypatch.setattr(MoveReplayHooks, "conflicts", lambda self, *a: scanned.append(1) or [])
    with connection.cursor() as cur:
        # ALTER TABLE refuses while deferred FK checks of the table are pending.
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("ALTER TABLE main_device ADD COLUMN serial text")
    state = dump()
    pattern = (
        r"the columns of main_device changed since the move \(serial\): a replay would write "
        r"values into a different schema"
    )
    for flags in ((), ("--allow-schema-change",)):
        with pytest.raises(CommandError, match=pattern):
            undo(move_id, *flags)
    assert dump() == state
    assert "[schema] BLOCKS: the columns of main_device changed" in revert_refused(move_id)
    assert scanned == []


def _migrated_since(*migrations: tuple[str, str]) -> None:
    """Record migrations ``(app, name)`` as applied now (after the move)."""
    with connection.cursor() as cur:
        for app, name in migrations:
            cur.execute(
                "INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, now())",
                [app, name],
            )


def test_migrations_applied_since_refuse_unless_allowed(world):
    move_id = move_to_target(world)
    _migrated_since(("main", "9999_later"))
    with pytest.raises(
        CommandError,
        match=r"migrations of the recorded apps were applied since the move \(schema "
        r"fingerprint differs\).*pass --allow-schema-change",
    ):
        undo(move_id)
    undo(move_id, "--allow-schema-change")
    assert revert_of(move_id).arguments["allow_schema_change"] is True
    assert Deployment.objects.get(pk=world.src.dep.pk).project_id == world.src.project.pk


def test_a_ledger_migrated_since_the_move_does_not_stop_its_revert(world):
    move_id = move_to_target(world)
    _migrated_since(("ledger", "9998_later"), ("ledger", "9999_later"))
    undo(move_id)
    assert revert_of(move_id).arguments["allow_schema_change"] is False
    assert Deployment.objects.get(pk=world.src.dep.pk).project_id == world.src.project.pk


def test_the_ledger_and_a_recorded_app_migrated_since_still_refuse(world):
    move_id = move_to_target(world)
    _migrated_since(("ledger", "9999_later"), ("main", "9999_later"))
    with pytest.raises(CommandError, match=r"migrations of the recorded apps were applied"):
        undo(move_id)


def test_a_tampered_ledger_refuses_the_revert(world):
    move_id = move_to_target(world)
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("ALTER TABLE ledger_change DISABLE TRIGGER USER")
        cur.execute(
            "UPDATE ledger_change SET before = jsonb_set(before::jsonb, '{project_id}', '999999') "
            "WHERE id = (SELECT min(id) FROM ledger_change WHERE move_id = %s AND op = 'U' "
            "AND (before -> 'project_id') IS NOT NULL)",
            [move_id],
        )
        assert cur.rowcount == 1
        cur.execute("ALTER TABLE ledger_change ENABLE TRIGGER USER")
    state = dump()
    pattern = rf"the ledger of move {move_id} does not verify \(.*\): it cannot be trusted"
    for flags in ((), ("--skip-drifted", "--carry-new-data", "--allow-schema-change")):
        with pytest.raises(CommandError, match=pattern):
            undo(move_id, *flags)
    assert dump() == state
    assert "[tampered] BLOCKS" in revert_refused(move_id)


def test_dry_run_reports_every_conflict_and_changes_nothing(world):
    first = move_to_target(world)
    third = make_project("Third", make_user("third"))
    move(
        "--source-project",
        str(world.target.pk),
        "--target-project",
        str(third.pk),
        "--deployment-ids",
        str(world.src.dep.pk),
        "--reason",
        "second",
    )
    second = Move.objects.order_by("-id").first().pk
    Identification.objects.create(
        user=make_user("late"), taxon=world.src.order, occurrence=world.src.occurrences[0]
    )
    make_collection(world.target, [world.src.images[0]], name="Target's own")
    state = dump()
    text = revert_refused(first, "--skip-drifted", "--carry-new-data")
    assert dump() == state
    assert not Move.objects.filter(reverts_id=first).exists()
    expected = [
        rf"\[later-move\] BLOCKS: move {second} changed \d+ row\(s\) of main_deployment again",
        r"\[drift\] resolved by --skip-drifted: \d+ row\(s\) of main_deployment changed since",
        r"\[new-data\] resolved by --carry-new-data: 1 identification\(s\)",
        r"\[new-data\] BLOCKS: 1 moved capture\(s\) were put into collections",
        r"DRY RUN: the revert would be refused",
    ]
    for line in expected:
        assert re.search(line, text), line


def test_json_report_decodes_and_lists_the_conflicts(world):
    move_id = move_to_target(world)
    _new_event(world)
    SourceImage.objects.filter(pk=world.src.images[0].pk).update(
        project=world.src.project, deployment=world.staying.dep
    )
    out = StringIO()
    with pytest.raises(CommandError, match="DRY RUN: the revert would be refused") as refused:
        call_command("revert_move", str(move_id), "--format", "json", stdout=out)
    assert refused.value.returncode == 2
    report = json.loads(out.getvalue())
    assert report["executed"] is False
    assert report["ok"] is False
    conflicts = {(c["kind"], c["table"]): c for c in report["plan"]["conflicts"]}
    assert conflicts["new-data", "main_event"]["count"] == 1
    assert conflicts["new-data", "main_event"]["resolved_by"] == "carry_new_data"
    drift = conflicts["drift", "main_sourceimage"]
    assert (drift["count"], drift["sample"]) == (1, [str(world.src.images[0].pk)])
    with pytest.raises(CommandError, match=r"revert refused, nothing was changed"):
        call_command(
            "revert_move",
            str(move_id),
            "--execute",
            "--reason",
            "undo",
            "--format",
            "json",
            stdout=out,
        )


def test_a_fault_in_the_middle_of_the_replay_leaves_everything_as_it_was(world, monkeypatch):
    move_id = move_to_target(world)
    state = dump()
    real = ledger.replay.apply.run_unit
    calls = []

    def failing(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 3:
            raise RuntimeError("injected fault")
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger.replay.apply, "run_unit", failing)
    with pytest.raises(RuntimeError, match="injected fault"):
        undo(move_id)
    assert len(calls) == 3
    assert dump() == state
    assert not Move.objects.filter(kind="revert").exists()
    monkeypatch.setattr(ledger.replay.apply, "run_unit", real)
    undo(move_id)
    assert Deployment.objects.get(pk=world.src.dep.pk).project_id == world.src.project.pk


def test_the_revert_is_a_sealed_move_of_its_own(world):
    move_id = move_to_target(world)
    original = Move.objects.get(pk=move_id)
    out = undo(move_id)
    reverted = revert_of(move_id)
    assert f"REVERT COMPLETE: move {reverted.pk}, digest {reverted.digest}" in out
    assert (reverted.kind, reverted.reverts_id, reverted.command) == (
        "revert",
        move_id,
        "revert_move",
    )
    assert reverted.prev_digest == original.digest
    assert reverted.entry_count > 0
    report = ledger.verify()
    assert report.ok, report.failures
    assert report.last_digest == reverted.digest
    assert ledger.verify(reverted.pk).ok
    shown = StringIO()
    call_command("show_move", str(reverted.pk), stdout=shown)
    text = shown.getvalue()
    assert f"revert {reverted.pk}: revert_move" in text
    assert f"reverts move {move_id}" in text
    assert f"prev_digest  {original.digest}" in text
    original_shown = StringIO()
    call_command("show_move", str(move_id), stdout=original_shown)
    assert f"reverted by move {reverted.pk}" in original_shown.getvalue()


@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_revert_of_a_revert_of_a_created_project_brings_it_back_with_its_pk(world, threshold):
    # 0.3: the move copies non-default settings onto the created project, so its revert
    # updates that project before deleting it. 0.5 (the default): nothing is copied, and the
    # created Default Station keeps the cached counts it was created with (never recounted).
    Project.objects.filter(pk=world.src.project.pk).update(
        default_filters_score_threshold=threshold
    )
    refresh_project_cached_fields([world.src.project.pk])
    move_id = move_to_new_project(world)
    created = Project.objects.get(name="Split off")
    after_move = dump()
    undo(move_id)
    assert not Project.objects.filter(pk=created.pk).exists()
    undo(revert_of(move_id).pk)
    back = Project.objects.get(pk=created.pk)
    assert (back.name, back.default_filters_score_threshold) == ("Split off", threshold)
    assert Deployment.objects.get(pk=world.src.dep.pk).project_id == created.pk
    assert dump() == after_move
    assert ledger.verify().ok


def test_a_deleted_row_whose_key_is_taken_again_refuses_unless_skipped(world):
    move_id = move(
        "--source-project",
        str(world.src.project.pk),
        "--target-project",
        str(world.target.pk),
        "--deployment-ids",
        str(world.src.dep.pk),
        "--no-clone-collections",
        "--reason",
        "test",
    )
    removed = sorted(
        int(e.pk)
        for e in ledger.entries(move_id)
        if e.table == "main_sourceimagecollection_images" and e.op == "D"
    )
    assert len(removed) == len(world.src.images)
    other = make_collection(world.src.project, [], name="Other")
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO main_sourceimagecollection_images "
            "(id, sourceimagecollection_id, sourceimage_id) VALUES (%s, %s, %s)",
            [removed[0], other.pk, world.staying.images[0].pk],
        )
    with pytest.raises(
        CommandError,
        match=r"1 row\(s\) of main_sourceimagecollection_images key taken again since: the "
        r"revert would overwrite later work.*--skip-drifted",
    ):
        undo(move_id)
    undo(move_id, "--skip-drifted")
    mixed = SourceImageCollection.objects.get(name="Mixed")
    back = set(mixed.images.filter(deployment=world.src.dep).values_list("pk", flat=True))
    assert len(back) == len(world.src.images) - 1
    assert list(other.images.values_list("pk", flat=True)) == [world.staying.images[0].pk]
    skipped = revert_of(move_id).arguments["skipped"]
    assert skipped == {"main_sourceimagecollection_images": [str(removed[0])]}


def test_a_secret_that_no_live_row_holds_cannot_be_restored(world):
    move_id = move_to_target(world)  # the shared bucket is cloned, credentials included
    undo(move_id)  # the clone is deleted; the ledger keeps fingerprints of its credentials
    S3StorageSource.objects.filter(pk=world.src.s3.pk).update(secret_key="ROTATED")
    state = dump()
    with pytest.raises(
        CommandError,
        match=r"main_s3storagesource.secret_key of 1 row\(s\) was recorded only as a "
        r"fingerprint and no live row holds that value: it cannot be restored",
    ):
        undo(revert_of(move_id).pk, "--skip-drifted", "--carry-new-data")
    assert dump() == state


def test_revert_of_a_revert_recounts_the_targets_own_stations(world):
    # The move replaces the target's filters (score 0.95 hid everything) by the source's; its
    # revert restores them, and the revert of the revert copies the source's again: each time
    # the target's own station is recounted under the filters it ends with.
    Project.objects.filter(pk=world.target.pk).update(default_filters_score_threshold=0.95)
    own = add_deployment(world.target, "Target own", 2, taxon=world.src.species, occurrences=True)
    refresh_project_cached_fields([world.target.pk])
    assert Deployment.objects.get(pk=own.dep.pk).occurrences_count == 0
    before = dump()
    move_id = move_to_target(world)
    after_move = dump()
    assert Deployment.objects.get(pk=own.dep.pk).occurrences_count == 2
    undo(move_id)
    assert dump() == before
    undo(revert_of(move_id).pk)
    assert Deployment.objects.get(pk=own.dep.pk).occurrences_count == 2
    assert dump() == after_move


def test_a_revert_recounts_the_moved_stations_whose_recorded_counts_it_puts_back(world):
    # The move recounted the moved station under the target's own filters (the source's 0.95
    # hid every occurrence, the target's hides none) and recorded the source's counts as
    # before-values. Months later the source adopted the target's threshold: the stations go
    # back under the filters they were counted under, but the counts the replay puts back are
    # stale, and the revert must leave counts a fresh recount agrees with.
    threshold = Project.objects.get(pk=world.target.pk).default_filters_score_threshold
    Project.objects.filter(pk=world.src.project.pk).update(default_filters_score_threshold=0.95)
    refresh_project_cached_fields([world.src.project.pk])
    assert Deployment.objects.get(pk=world.src.dep.pk).occurrences_count == 0
    move_id = move_to_target(world, "--keep-target-settings")
    assert Deployment.objects.get(pk=world.src.dep.pk).occurrences_count == 4
    Project.objects.filter(pk=world.src.project.pk).update(
        default_filters_score_threshold=threshold
    )
    undo(move_id)
    assert Deployment.objects.get(pk=world.src.dep.pk).occurrences_count == 4
    assert refresh_cached_fields(Deployment.objects.values_list("pk", flat=True)) == 0


def test_a_revert_recounts_the_moved_stations_when_the_sources_filters_changed_since(world):
    # Same filters at the move (nothing recounted); then the source raised its threshold: the
    # stations go back under filters other than those they were counted under.
    move_id = move_to_target(world)
    Project.objects.filter(pk=world.src.project.pk).update(default_filters_score_threshold=0.95)
    assert Deployment.objects.get(pk=world.src.dep.pk).occurrences_count == 4
    undo(move_id)
    assert Deployment.objects.get(pk=world.src.dep.pk).occurrences_count == 0
    assert refresh_cached_fields([world.src.dep.pk]) == 0


def test_a_revert_writes_no_count_the_move_did_not_and_no_filter_change_asks_for(world):
    # DECISION: as the move, the revert recounts only what it changes. Counts a write made
    # stale after the move without recounting (Antenna refreshes them on its own schedule)
    # stay as stale in the source as they were in the target: the revert is not a refresh.
    move_id = move_to_target(world)
    Occurrence.objects.filter(pk=world.src.occurrences[0].pk).update(determination_score=0.01)
    Project.objects.filter(pk=world.src.project.pk).update(default_filters_score_threshold=0.5)
    Project.objects.filter(pk=world.target.pk).update(default_filters_score_threshold=0.5)
    undo(move_id)
    assert Deployment.objects.get(pk=world.src.dep.pk).occurrences_count == 4
    assert refresh_cached_fields([world.src.dep.pk]) > 0


def test_a_revert_recounts_the_targets_own_stations_but_not_the_moved_ones_for_them(world):
    # The move recounted the target's own station (its filters were replaced); that is no
    # reason to recount the moved station, whose counts it did not write.
    Project.objects.filter(pk=world.target.pk).update(default_filters_score_threshold=0.95)
    own = add_deployment(world.target, "Target own", 2, taxon=world.src.species, occurrences=True)
    refresh_project_cached_fields([world.target.pk])
    move_id = move_to_target(world)
    assert Deployment.objects.get(pk=own.dep.pk).occurrences_count == 2
    Occurrence.objects.filter(pk=world.src.occurrences[0].pk).update(determination_score=0.01)
    undo(move_id)
    assert Deployment.objects.get(pk=own.dep.pk).occurrences_count == 0
    assert Deployment.objects.get(pk=world.src.dep.pk).occurrences_count == 4
