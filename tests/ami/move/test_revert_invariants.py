"""revert_move never commits a broken state: the domain's invariants over both projects of the
move (issue 12, items 1 and 6), and the move's locks taken before the scans."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.management.base import CommandError
from django.db import connection

import ami.move.revert
from ami.jobs.models import Job
from ami.main.cached_fields import refresh_project_cached_fields
from ami.main.consistency import FOLLOWERS, add_key_sql, drop_key_sql
from ami.main.events import group_images_into_events
from ami.main.models import Deployment, Device, Event, SourceImage, SourceImageCollection
from ami.move.invariants import rows_follow_deployment
from ami.move.locks import CLAIM_KEY
from ami.move.revert import MoveReplayHooks
from ledger.models import Move
from tests.ami.move.commands import dump, move, move_to, revert, revert_refused
from tests.builders import add_deployment, make_project, make_user, setup_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> SimpleNamespace:
    """Project 1 with two deployments sharing nothing with a third party; project 2 empty."""
    src = setup_source(3, with_identifications=True)
    second = add_deployment(src.project, "Dep B", 2, taxon=src.species, occurrences=True)
    target = make_project("Target", make_user("target-owner"))
    refresh_project_cached_fields([src.project.pk, target.pk])
    return SimpleNamespace(src=src, second=second, target=target)


def without_project_keys() -> None:
    """Drop the composite keys (rolled back with the test), as on an attached Antenna."""
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, name in FOLLOWERS:
            cur.execute(drop_key_sql(table, name))


def while_reverting(monkeypatch, write, *, after_recount: bool = False) -> None:
    """Run ``write`` in the revert's transaction after its scans, before (or after) the
    domain's recount: as a writer whose commit the scans did not see."""
    original = MoveReplayHooks.refresh

    def racing_writer(self, move, policy, rec):
        if not after_recount:
            write()
        original(self, move, policy, rec)
        if after_recount:
            write()

    monkeypatch.setattr(MoveReplayHooks, "refresh", racing_writer)


def test_skip_drifted_project_of_a_deployment_is_refused_naming_it(world):
    """The issue's split: one deployment kept where someone put it since, its rows sent back."""
    src, target = world.src, world.target
    # An attached Antenna database may lack the keys that make a row's project follow its
    # deployment (opt-in there): without them nothing but the revert's checks sees a split.
    without_project_keys()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    third = make_project("Third", make_user("third"))
    # Put under another project since, without its rows: a drift of project_id itself.
    Deployment.objects.filter(pk=src.dep.pk).update(project=third)
    state = dump()
    with pytest.raises(
        CommandError,
        match=rf"rows-follow-deployment failed: deployment {src.dep.pk} is in project "
        rf"{third.pk} but .*1 main_event row\(s\) of it are in project {src.project.pk}",
    ):
        revert(move_id, "--execute", "--reason", "undo", "--skip-drifted")
    assert dump() == state
    assert not Move.objects.filter(reverts_id=move_id).exists()
    # Its device, site and storage source went back to the source without it.
    with pytest.raises(
        CommandError,
        match=rf"deployment-resources failed: deployment {src.dep.pk} is in project "
        rf"{third.pk} but its s3 {src.s3.pk} is in project {src.project.pk}; deployment "
        rf"{src.dep.pk} is in project {third.pk} but its device {src.device.pk}",
    ):
        revert(move_id, "--execute", "--reason", "undo", "--skip-drifted")


def _moved_then_switched_to_a_new_device_of_the_target(world, *, cloned: bool):
    """Move the station, then switch it to a new device of the target; (move id, device)."""
    src, target = world.src, world.target
    if cloned:  # another station of the source shares it: the move clones it
        Deployment.objects.filter(pk=world.second.dep.pk).update(device=src.device)
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    cam2 = Device.objects.create(name="Cam 2", project=target)
    Deployment.objects.filter(pk=src.dep.pk).update(device=cam2)
    return move_id, cam2


@pytest.mark.parametrize("resource", ["cloned", "reassigned"])
def test_a_station_given_a_device_of_the_target_since_is_refused(world, resource):
    """An Antenna rerun's case: after the move the station was switched to a device of the
    target. The revert would take the station back and leave it on that device, across
    projects, whether the move cloned its device (the device_id is drift: --skip-drifted
    keeps it) or re-tagged it (the move never wrote device_id: no drift at all)."""
    src, target = world.src, world.target
    move_id, cam2 = _moved_then_switched_to_a_new_device_of_the_target(
        world, cloned=resource == "cloned"
    )
    state = dump()
    args = ("--skip-drifted",) if resource == "cloned" else ()
    with pytest.raises(
        CommandError,
        match=rf"deployment-resources failed: deployment {src.dep.pk} is in project "
        rf"{src.project.pk} but its device {cam2.pk} is in project {target.pk}",
    ):
        revert(move_id, "--execute", "--reason", "undo", *args)
    assert dump() == state
    assert not Move.objects.filter(reverts_id=move_id).exists()


def test_an_execute_refused_before_the_replay_says_the_dry_run_runs_the_checks(world):
    """Refused for drift before the replay, an execute never reached the checks after it (an
    Antenna rerun followed the hint, --skip-drifted, into a second refusal): it says so, and
    the dry run names both."""
    move_id, cam2 = _moved_then_switched_to_a_new_device_of_the_target(world, cloned=True)
    with pytest.raises(
        CommandError,
        match=rf"the move left \d+, today {cam2.pk}\)(?s:.*)\n\(refused before the replay"
        r", so its checks did not run: the dry run, without --execute, lists what they find "
        r"too\)$",
    ):
        revert(move_id, "--execute", "--reason", "undo")
    text = revert_refused(move_id, "--reason", "undo")
    assert f"check deployment-resources: FAIL — deployment {world.src.dep.pk}" in text
    assert "[drift] BLOCKS: 1 row(s) of main_deployment" in text


def test_a_station_of_the_target_given_the_moved_device_while_reverting_is_refused(
    world, monkeypatch
):
    """A station added to the target on the device the move re-tagged: before the revert its
    scans refuse it; added while the revert runs (after its scans), the checks after the
    replay do, as the revert takes the device back to the source and leaves the station."""
    src, target = world.src, world.target
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    state = dump()
    late = []
    while_reverting(
        monkeypatch,
        lambda: late.append(
            Deployment.objects.create(name="Late", project=target, device=src.device)
        ),
    )
    with pytest.raises(
        CommandError,
        match=r"deployment-resources failed: deployment \d+ is in project "
        rf"{target.pk} but its device {src.device.pk} is in project {src.project.pk}",
    ):
        revert(move_id, "--execute", "--reason", "undo")
    assert late
    assert dump() == state


def test_a_moved_job_pointed_at_a_collection_of_the_target_since_is_refused(world):
    """The revert would take the job back to the source and leave it on the target's
    collection; the move never wrote the link, so nothing counts it as drift."""
    src, target = world.src, world.target
    job = Job.objects.create(name="moved job", project=src.project, deployment=src.dep)
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    theirs = SourceImageCollection.objects.create(name="Target's", project=target)
    Job.objects.filter(pk=job.pk).update(source_image_collection=theirs)
    state = dump()
    with pytest.raises(
        CommandError,
        match=rf"job-cross-links failed: job {job.pk} of project {src.project.pk} references "
        rf"source_image_collection {theirs.pk} of project {target.pk}",
    ):
        revert(move_id, "--execute", "--reason", "undo")
    assert dump() == state


def test_a_moved_job_linked_across_before_the_move_is_linked_so_again(world):
    """Antenna data may hold a job on another project's collection: the move takes the job
    to that project, and its revert back, as it was."""
    src, target = world.src, world.target
    theirs = SourceImageCollection.objects.create(name="Target's", project=target)
    Job.objects.create(
        name="across", project=src.project, deployment=src.dep, source_image_collection=theirs
    )
    before = dump()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    text = revert(move_id, "--execute", "--reason", "undo")
    # An Antenna rerun read "no job ... references another project's collection": untrue here.
    assert (
        "check job-cross-links: OK — no job of either project references a collection, export "
        "or capture of the other unless it did when the move ran" in text
    )
    assert dump() == before


@pytest.mark.parametrize("keys", ["dropped", "installed"])
def test_a_writer_with_the_stale_project_is_caught_after_the_replay(world, monkeypatch, keys):
    """A capture inserted on a moved deployment with the target's id while the revert runs
    (after its scans) would stay in the target: the checks after the replay refuse. Without
    the project-follows-deployment keys the rows-follow-deployment scan names it; with them
    that scan leaves the table to the keys, and the capture is still found left behind."""
    src, target = world.src, world.target
    if keys == "dropped":
        without_project_keys()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    state = dump()
    while_reverting(
        monkeypatch,
        lambda: SourceImage.objects.create(
            path="late.jpg", deployment_id=src.dep.pk, project_id=target.pk, event=src.event
        ),
    )
    found = {
        "dropped": rf"rows-follow-deployment failed: deployment {src.dep.pk} is in project "
        rf"{src.project.pk} but 1 main_sourceimage row\(s\) of it are in project {target.pk}",
        "installed": r"revert refused, nothing was changed:\n(?s:.*)nothing-left-behind failed: "
        r"1 main_sourceimage",
    }
    with pytest.raises(CommandError, match=found[keys]):
        revert(move_id, "--execute", "--reason", "undo")
    assert dump() == state


def test_a_key_added_not_valid_leaves_its_table_scanned(world):
    """A key added NOT VALID checks new writes only: rows split before it are still found."""
    src, target = world.src, world.target
    without_project_keys()
    SourceImage.objects.filter(pk=src.images[0].pk).update(project=target)
    name = dict(FOLLOWERS)["main_sourceimage"]
    with connection.cursor() as cur:
        cur.execute(add_key_sql("main_sourceimage", name, valid=False))
        # No move's keys: nothing counts as restored.
        cur.execute(
            "CREATE TEMP TABLE ami_move_keys (table_name text, pk text, moved boolean, "
            "before_project text)"
        )
    outcome = rows_follow_deployment([src.project.pk, target.pk], [src.dep.pk], lambda t: None)
    assert not outcome.ok
    assert outcome.detail == (
        f"deployment {src.dep.pk} is in project {src.project.pk} but 1 main_sourceimage row(s) "
        f"of it are in project {target.pk} (e.g. {src.images[0].pk})"
    )


def test_a_job_left_pointing_across_projects_is_refused(world, monkeypatch):
    """No job of either project may reference another project's capture after the revert."""
    src, target = world.src, world.target
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    while_reverting(
        monkeypatch,
        lambda: Job.objects.create(
            name="late", project=target, source_image_single_id=src.images[0].pk
        ),
        after_recount=True,
    )
    with pytest.raises(
        CommandError,
        match=rf"job-cross-links failed: job \d+ of project {target.pk} references "
        rf"source_image_single {src.images[0].pk} of project {src.project.pk}",
    ):
        revert(move_id, "--execute", "--reason", "undo")


def test_a_station_on_another_projects_device_from_before_the_move_is_allowed(world):
    """Antenna data may have a station on another project's device; the move leaves it so,
    and so does its revert: not a failure."""
    src, target = world.src, world.target
    theirs = Device.objects.create(name="Borrowed", project=target)
    Deployment.objects.filter(pk=src.dep.pk).update(device=theirs)
    before = dump()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    revert(move_id, "--execute", "--reason", "undo")
    assert dump() == before


@pytest.fixture
def keys_loaded(monkeypatch) -> list[object]:
    """The tables each call of ``load_keys`` asked for during a revert (None: all of them)."""
    calls: list[object] = []
    real = ami.move.revert.load_keys

    def spy(move_id, tables=None):
        calls.append(None if tables is None else sorted(tables))
        return real(move_id, tables)

    monkeypatch.setattr(ami.move.revert, "load_keys", spy)
    return calls


def test_the_checks_load_no_keys_where_no_row_is_split(world, keys_loaded):
    src, target = world.src, world.target
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    revert(move_id, "--execute", "--reason", "undo")
    assert [tables for tables in keys_loaded if tables is not None] == []


def test_a_borrowed_device_loads_the_keys_of_deployments_and_resources_only(world, keys_loaded):
    src, target = world.src, world.target
    theirs = Device.objects.create(name="Borrowed", project=target)
    Deployment.objects.filter(pk=src.dep.pk).update(device=theirs)
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    revert(move_id, "--execute", "--reason", "undo")
    assert [tables for tables in keys_loaded if tables is not None] == [
        ["main_deployment", "main_device", "main_s3storagesource", "main_site"]
    ]


def test_the_checks_pass_on_a_plain_round_trip(world):
    src, target = world.src, world.target
    before = dump()
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    text = revert(move_id, "--execute", "--reason", "undo")
    for name in ("rows-follow-deployment", "deployment-resources", "job-cross-links"):
        assert f"{name}" in text
    # This schema's keys hold: those tables are left to them, the detections' part is scanned.
    assert (
        "(main_event, main_sourceimage, main_occurrence, jobs_job: by the database's keys)" in text
    )
    assert dump() == before


def _other_session():
    """A second session through Django's own driver (psycopg2 or psycopg 3)."""
    params = connection.get_connection_params()
    params["application_name"] = "ami move_project_data (other)"
    return connection.get_new_connection(params)


@pytest.mark.django_db(transaction=True)
def test_a_revert_claims_the_moved_deployments_before_scanning(world):
    """A move or revert of the same deployments running elsewhere refuses the revert at once,
    naming the session, before any scan."""
    src, target = world.src, world.target
    move_id = move_to(src.project.pk, target.pk, src.dep.pk)
    state = dump()
    other = _other_session()
    other.autocommit = False
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", [CLAIM_KEY, src.dep.pk])
        with pytest.raises(
            CommandError,
            match=rf"deployment {src.dep.pk} is being moved or reverted right now by "
            r"ami move_project_data \(other\)",
        ):
            revert(move_id, "--execute", "--reason", "undo")
    finally:
        other.rollback()
        other.close()
    assert dump() == state
    assert Event.objects.get(pk=src.event.pk).project_id == target.pk
    assert SourceImage.objects.filter(deployment=src.dep, project=target).count() == 3


_SPLIT_ROWS = """
SELECT count(*) FROM (
    SELECT x.deployment_id, x.project_id FROM main_event x
    UNION ALL SELECT x.deployment_id, x.project_id FROM main_sourceimage x
    UNION ALL SELECT x.deployment_id, x.project_id FROM main_occurrence x
) r JOIN main_deployment d ON d.id = r.deployment_id WHERE r.project_id <> d.project_id
"""


def test_the_issues_scenario_never_commits_a_split_state(world):
    """Issue 12, item 1: every station of project 1 moved to 2, one of them edited with an
    ordinary save() since, then ``--skip-drifted``. Whether the revert leaves the edit alone
    column by column or refuses, no station may end in one project with its rows in another
    (checked here without the database's own keys, as on an attached Antenna)."""
    src, target = world.src, world.target
    for dep in (src.dep, world.second.dep):  # events as Antenna groups them: save() keeps them
        group_images_into_events(dep)
    refresh_project_cached_fields([src.project.pk])
    without_project_keys()
    move_id = move(
        "--source-project", str(src.project.pk), "--target-project", str(target.pk),
        "--deployment-ids", f"{src.dep.pk},{world.second.dep.pk}",
    )  # fmt: skip
    edited = Deployment.objects.get(pk=world.second.dep.pk)
    edited.description = "Added by a data steward"
    edited.save()
    assert Event.objects.filter(project=target).count() == 2  # nothing regrouped
    refused = ""
    try:
        revert(move_id, "--execute", "--reason", "undo", "--skip-drifted")
    except CommandError as exc:
        refused = str(exc)
    if refused:  # leaving drifted rows whole: the split is refused, naming the station
        assert f"deployment {edited.pk} is in project {target.pk} but" in refused
        assert not Move.objects.filter(reverts_id=move_id).exists()
    with connection.cursor() as cur:
        cur.execute(_SPLIT_ROWS)
        assert cur.fetchone()[0] == 0
