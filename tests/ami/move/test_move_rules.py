"""The rules of move_project_data, a test (or a few) each: ids, roles, settings, jobs, locks,
cached fields, checks, post_save (the defects of the original command that issue 3 fixed)."""

from __future__ import annotations

import json
import logging
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models.signals import m2m_changed
from django.test.utils import CaptureQueriesContext

import ami.main.cached_fields
from ami.exports.models import DataExport
from ami.jobs.models import Job
from ami.main.cached_fields import refresh_cached_fields
from ami.main.models import (
    Deployment,
    Detection,
    Device,
    Project,
    SourceImageCollection,
    Taxon,
)
from ami.move import MoveRequest, apply_plan, build_plan
from ami.move.errors import PlanChanged
from ami.users import roles as role_classes
from ledger.models import Move
from tests.ami.move.commands import move_output, roles, run_move
from tests.builders import (
    add_deployment,
    make_collection,
    make_job,
    make_pipeline,
    make_project,
    make_user,
    setup_source,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def s():
    return setup_source(3, with_identifications=True)


@pytest.fixture
def target():
    return make_project("Target Project", make_user("target-owner"))


# 1. --deployment-ids parsing ------------------------------------------------------------------


def test_ids_with_spaces_and_duplicates_are_accepted(s, target):
    b = add_deployment(s.project, "Dep B", 1).dep
    out = move_output(
        "--source-project", str(s.project.pk), "--target-project", str(target.pk),
        "--deployment-ids", f" {s.dep.pk} , {b.pk},{s.dep.pk} ",
    )  # fmt: skip
    assert f"Deployments to move: [{s.dep.pk}, {b.pk}]" in out


def test_the_same_stations_in_another_order_are_the_same_plan_and_digest(s, target):
    b = add_deployment(s.project, "Dep B", 1).dep
    digests = set()
    for ids in (f"{s.dep.pk},{b.pk}", f"{b.pk},{s.dep.pk}"):
        out = move_output(
            "--source-project", str(s.project.pk), "--target-project", str(target.pk),
            "--deployment-ids", ids,
        )  # fmt: skip
        assert f"Deployments to move: [{s.dep.pk}, {b.pk}]" in out
        digests |= set(re.findall(r"[0-9a-f]{16}-[0-9a-f]{40}", out))
    assert len(digests) == 1


@pytest.mark.parametrize(
    "digest",
    ["z" * 16 + "-" + "z" * 40, "0123456789abcdef-" + "0" * 39, "abc", "0123456789abcdef"],
)
def test_a_malformed_expected_digest_is_refused_before_anything_runs(s, target, digest):
    with pytest.raises(CommandError, match=r"--expect-plan '.*' is not a plan digest: copy the"):
        move_output(
            "--source-project", str(s.project.pk), "--target-project", str(target.pk),
            "--deployment-ids", str(s.dep.pk), "--execute", "--reason", "r",
            "--expect-plan", digest,
        )  # fmt: skip
    assert not Move.objects.exists()


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ("1,,2", r"--deployment-ids '1,,2' has an empty entry at position 2: remove the extra"),
        ("1,", r"--deployment-ids '1,' has an empty entry at position 2"),
        ("", r"--deployment-ids is empty: pass a comma-separated list"),
        ("1,abc", r"--deployment-ids: 'abc' is not a deployment id: pass integers"),
        ("1.5", r"--deployment-ids: '1.5' is not a deployment id"),
        ("-3", r"--deployment-ids: '-3' is not a deployment id \(ids are positive\)"),
    ],
)
def test_bad_ids_are_command_errors_naming_the_token(s, target, ids, message):
    with pytest.raises(CommandError, match=message):
        move_output(
            "--source-project", str(s.project.pk), "--target-project", str(target.pk),
            "--deployment-ids", ids,
        )  # fmt: skip


# 2. Roles ---------------------------------------------------------------------------------------


def test_create_project_members_keep_their_primary_source_role(s):
    identifier, manager, basic = make_user("ident"), make_user("mldm"), make_user("basic")
    role_classes.Identifier.assign_user(identifier, s.project)
    role_classes.MLDataManager.assign_user(manager, s.project)
    s.project.members.add(basic)
    run_move(s.project, [s.dep.pk], create="Nunavik")
    new = Project.objects.get(name="Nunavik")
    assert roles(identifier, new) == {"BasicMember", "Identifier"}
    assert roles(manager, new) == {"BasicMember", "MLDataManager"}
    assert roles(basic, new) == {"BasicMember"}
    # The owner is the new project's ProjectManager from its creation, as in Antenna.
    assert roles(s.owner, new) == {"ProjectManager"}
    # The identifier user of the fixture is not a source member: Identifier.
    assert roles(s.identifier, new) == {"BasicMember", "Identifier"}


def test_existing_target_member_roles_are_never_changed(s, target):
    role_classes.ProjectManager.assign_user(s.identifier, s.project)
    target.members.add(s.identifier)  # BasicMember on the target
    out = run_move(s.project, [s.dep.pk], target=target, execute=False)
    assert f"User id={s.identifier.pk} (identifier)" in out
    assert "already a target member (BasicMember), role unchanged" in out
    run_move(s.project, [s.dep.pk], target=target)
    assert roles(s.identifier, target) == {"BasicMember"}


def test_added_identifier_gets_at_most_identifier(s, target):
    role_classes.ProjectManager.assign_user(s.identifier, s.project)
    assert "→ Identifier on the target" in run_move(
        s.project, [s.dep.pk], target=target, execute=False
    )
    run_move(s.project, [s.dep.pk], target=target)
    assert roles(s.identifier, target) == {"BasicMember", "Identifier"}


def test_added_researcher_identifier_arrives_as_identifier(s, target):
    # Researcher precedes Identifier in the role list but may create and delete exports,
    # which Identifier may not: the cap compares permissions, not positions.
    role_classes.Researcher.assign_user(s.identifier, s.project)
    out = run_move(s.project, [s.dep.pk], target=target, execute=False)
    assert f"User id={s.identifier.pk} (identifier): Researcher" in out
    assert "→ Identifier on the target" in out
    run_move(s.project, [s.dep.pk], target=target)
    assert roles(s.identifier, target) == {"BasicMember", "Identifier"}
    assert not s.identifier.has_perm("create_dataexport", target)
    assert s.identifier.has_perm("create_identification", target)


def test_added_identifier_with_a_role_inside_identifiers_keeps_it(s, target):
    s.project.members.add(s.identifier)  # BasicMember: a subset of Identifier's permissions
    run_move(s.project, [s.dep.pk], target=target)
    assert roles(s.identifier, target) == {"BasicMember"}
    assert not s.identifier.has_perm("create_identification", target)


def test_preserve_roles_copies_the_source_role(s, target):
    role_classes.ProjectManager.assign_user(s.identifier, s.project)
    run_move(s.project, [s.dep.pk], "--preserve-roles", target=target)
    assert roles(s.identifier, target) == {"BasicMember", "ProjectManager"}


# 3. Settings ------------------------------------------------------------------------------------


@pytest.fixture
def different_settings(s, target):
    pipeline = make_pipeline()
    other = Taxon.objects.create(name="Stale include")
    Project.objects.filter(pk=s.project.pk).update(
        default_filters_score_threshold=0.8, session_time_gap_seconds=3600
    )
    s.project.default_filters_include_taxa.add(s.order)
    Project.objects.filter(pk=target.pk).update(
        default_filters_score_threshold=0.3,
        session_time_gap_seconds=100,
        default_processing_pipeline=pipeline,
    )
    target.default_filters_include_taxa.add(other)
    target.default_filters_exclude_taxa.add(s.species)
    return pipeline, other


def test_settings_replace_the_targets(s, target, different_settings):
    run_move(s.project, [s.dep.pk], target=target)
    target.refresh_from_db()
    assert target.default_filters_score_threshold == 0.8
    assert target.session_time_gap_seconds == 3600
    assert target.default_processing_pipeline_id is None  # the source has none: not stale
    assert list(target.default_filters_include_taxa.all()) == [s.order]
    assert list(target.default_filters_exclude_taxa.all()) == []


def test_keep_target_settings(s, target, different_settings):
    pipeline, other = different_settings
    out = run_move(s.project, [s.dep.pk], "--keep-target-settings", target=target)
    assert "Target keeps its own settings (--keep-target-settings)" in out
    target.refresh_from_db()
    assert target.default_filters_score_threshold == 0.3
    assert target.session_time_gap_seconds == 100
    assert target.default_processing_pipeline_id == pipeline.pk
    assert list(target.default_filters_include_taxa.all()) == [other]
    assert list(target.default_filters_exclude_taxa.all()) == [s.species]


def test_keep_target_settings_needs_an_existing_target(s):
    with pytest.raises(CommandError, match="--keep-target-settings needs an existing"):
        run_move(s.project, [s.dep.pk], "--keep-target-settings", create="New")


# 4. Project-level jobs --------------------------------------------------------------------------


def test_project_level_job_on_moved_image_moves(s, target):
    job = make_job(s.project, source_image_single=s.images[0])
    out = run_move(s.project, [s.dep.pk], target=target, execute=False)
    assert f"Job id={job.pk} (project-level; everything it references moves): will MOVE" in out
    run_move(s.project, [s.dep.pk], target=target)
    job.refresh_from_db()
    assert (job.project_id, job.source_image_single_id) == (target.pk, s.images[0].pk)


def test_project_level_job_on_exclusive_collection_moves(s, target):
    coll = make_collection(s.project, s.images, "Only A")
    job = make_job(s.project, source_image_collection=coll)
    run_move(s.project, [s.dep.pk], target=target)
    job.refresh_from_db()
    assert (job.project_id, job.source_image_collection_id) == (target.pk, coll.pk)


def test_project_level_job_referencing_staying_data_stays_without_cross_links(s, target):
    b = add_deployment(s.project, "Dep B", 2)
    mixed = make_collection(s.project, s.images + b.images, "Mixed")
    exclusive = make_collection(s.project, s.images, "Only A")
    export = DataExport.objects.create(project=s.project, user=s.owner)
    on_mixed = make_job(s.project, source_image_collection=mixed, source_image_single=s.images[0])
    on_export = make_job(s.project, source_image_collection=exclusive, data_export=export)
    out = run_move(s.project, [s.dep.pk], target=target, execute=False)
    stays = "(project-level; references data that stays, so it stays): will STAY"
    assert f"Job id={on_mixed.pk} {stays}; image → NULL" in out
    assert f"Job id={on_export.pk} {stays}; collection → NULL" in out
    run_move(s.project, [s.dep.pk], target=target)
    on_mixed.refresh_from_db()
    on_export.refresh_from_db()
    assert (on_mixed.project_id, on_mixed.source_image_collection_id) == (s.project.pk, mixed.pk)
    assert on_mixed.source_image_single_id is None
    assert (on_export.project_id, on_export.data_export_id) == (s.project.pk, export.pk)
    assert on_export.source_image_collection_id is None


def test_moved_job_on_a_collection_without_moved_images_does_not_block_the_move(s, target):
    b = add_deployment(s.project, "Dep B", 2)
    other_coll = make_collection(s.project, b.images, "Only B")
    job = make_job(s.project, deployment=s.dep, source_image_collection=other_coll)
    assert "collection → NULL" in run_move(s.project, [s.dep.pk], target=target, execute=False)
    run_move(s.project, [s.dep.pk], target=target)
    job.refresh_from_db()
    assert (job.project_id, job.source_image_collection_id) == (target.pk, None)


def test_moved_job_is_detached_from_a_source_export(s, target):
    export = DataExport.objects.create(project=s.project, user=s.owner)
    job = make_job(s.project, deployment=s.dep, data_export=export)
    out = run_move(s.project, [s.dep.pk], target=target)
    assert "DataExport residue: 1 moved job(s) detached" in out
    job.refresh_from_db()
    assert (job.project_id, job.data_export_id) == (target.pk, None)
    export.refresh_from_db()
    assert export.project_id == s.project.pk


# 5. Concurrency ---------------------------------------------------------------------------------


def test_running_job_refuses_the_move(s, target):
    job = make_job(s.project, deployment=s.dep, status="STARTED")
    pattern = rf"Job\(s\) {job.pk} touching the moved data are running: .*--allow-running-jobs"
    with pytest.raises(CommandError, match=pattern):
        run_move(s.project, [s.dep.pk], target=target)
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk
    run_move(s.project, [s.dep.pk], "--allow-running-jobs", target=target)
    assert Deployment.objects.get(pk=s.dep.pk).project_id == target.pk


def test_rows_are_locked_and_the_plan_rechecked(s, target):
    request = MoveRequest(
        source_project_id=s.project.pk,
        target_project_id=target.pk,
        deployment_ids=(s.dep.pk,),
        reason="test move",
    )
    plan = build_plan(request)
    with CaptureQueriesContext(connection) as queries:
        apply_plan(plan)
    locks = [q["sql"] for q in queries if q["sql"].startswith("SELECT id FROM")]
    for table, mode in (
        ("main_project", "FOR SHARE"),  # the source: read, never written
        ("main_project", "FOR NO KEY UPDATE"),  # the target: its settings are written
        ("main_deployment", "FOR UPDATE"),  # its project is part of the key rows follow
        ("main_device", "FOR NO KEY UPDATE"),  # reassigned
        ("main_site", "FOR NO KEY UPDATE"),
    ):
        assert any(table in sql and sql.endswith(mode) for sql in locks), (table, mode)


def test_a_stale_plan_is_refused(s, target):
    request = MoveRequest(
        source_project_id=s.project.pk,
        target_project_id=target.pk,
        deployment_ids=(s.dep.pk,),
        reason="test move",
    )
    plan = build_plan(request)
    add_deployment(s.project, "Dep B", 1, device=s.device)  # the device is now shared
    with pytest.raises(PlanChanged, match=r"changed since the dry run you reviewed \(.*resources"):
        apply_plan(plan)
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk


def test_concurrent_edits_are_not_clobbered(s, target):
    request = MoveRequest(
        source_project_id=s.project.pk,
        target_project_id=target.pk,
        deployment_ids=(s.dep.pk,),
        reason="test move",
    )
    plan = build_plan(request)
    Deployment.objects.filter(pk=s.dep.pk).update(description="edited meanwhile")
    Device.objects.filter(pk=s.device.pk).update(description="edited too")
    apply_plan(plan)
    assert Deployment.objects.get(pk=s.dep.pk).description == "edited meanwhile"
    assert Device.objects.get(pk=s.device.pk).description == "edited too"


# 6. Cached fields -------------------------------------------------------------------------------


def _counted(*deployments) -> None:
    """Bring the cached counts up to date, as they are before any move."""
    refresh_cached_fields([d.pk for d in deployments])


def test_cached_fields_are_recounted_inside_the_transaction_where_the_move_changes_them(s, target):
    staying = add_deployment(s.project, "Dep B", 2).dep
    target_station = add_deployment(target, "Dep T", 2, occurrences=True, taxon=s.species).dep
    _counted(s.dep, staying, target_station)
    Project.objects.filter(pk=target.pk).update(default_filters_score_threshold=0.95)
    Deployment.objects.filter(pk=staying.pk).update(captures_count=999)
    Deployment.objects.filter(pk=s.dep.pk).update(captures_count=555)  # stale, not changed
    Deployment.objects.filter(pk=target_station.pk).update(detections_count=777)
    signals: list[str] = []

    def count(sender, action, **kwargs):
        signals.append(action)

    m2m_changed.connect(count, sender=Project.default_filters_include_taxa.through)
    try:
        run_move(s.project, [s.dep.pk], target=target)  # inside the test's transaction
    finally:
        m2m_changed.disconnect(count, sender=Project.default_filters_include_taxa.through)
    # The target's own station now counts under the source's filters (threshold 0.5 again).
    assert Deployment.objects.get(pk=target_station.pk).detections_count == 2
    # A move changes neither the moved station's counts (same filters) nor a staying one's.
    assert Deployment.objects.get(pk=s.dep.pk).captures_count == 555
    assert Deployment.objects.get(pk=staying.pk).captures_count == 999
    assert signals == []


def test_moved_stations_are_recounted_when_they_keep_the_targets_other_filters(s, target):
    _counted(s.dep)
    Project.objects.filter(pk=target.pk).update(default_filters_score_threshold=0.95)
    run_move(s.project, [s.dep.pk], "--keep-target-settings", target=target)
    assert Deployment.objects.get(pk=s.dep.pk).detections_count == 0  # 0.85 < 0.95


def test_cached_fields_refresh_is_set_based_and_only_where_filters_change(s, target, monkeypatch):
    seen: list[list[int]] = []
    original = ami.main.cached_fields.refresh_cached_fields
    monkeypatch.setattr(
        ami.main.cached_fields,
        "refresh_cached_fields",
        lambda ids: seen.append(sorted(ids)) or original(ids),
    )
    other = add_deployment(target, "Dep T", 1).dep
    run_move(s.project, [s.dep.pk], target=target, execute=True)
    assert seen == [[]]  # the same filters on both sides: nothing to recount
    Project.objects.filter(pk=target.pk).update(default_filters_score_threshold=0.1)
    second = add_deployment(s.project, "Dep A2", 1).dep
    run_move(s.project, [second.pk], target=target, execute=True)
    assert seen[-1] == sorted([other.pk, s.dep.pk])


# 7. --create-project records what it creates ----------------------------------------------------


def test_create_project_records_everything_it_creates(s):
    out = move_output(
        "--source-project", str(s.project.pk), "--create-project", "Nunavik",
        "--deployment-ids", str(s.dep.pk), "--execute", "--format", "json", "--reason", "t",
    )  # fmt: skip
    report = json.loads(out)
    new = Project.objects.get(name="Nunavik")
    created = report["steps"][0]["created"]
    assert created["project"] == [new.pk]
    assert created["device"] == list(
        Device.objects.filter(project=new, name="Default Device").values_list("pk", flat=True)
    )
    assert created["deployment"] == list(
        Deployment.objects.filter(project=new, name="Default Station").values_list("pk", flat=True)
    )
    assert created["collection"] == list(
        SourceImageCollection.objects.filter(project=new).values_list("pk", flat=True)
    )
    import ledger

    if not hasattr(ledger, "entries"):
        pytest.skip("ledger not installed")
    inserted = {(e.table, e.pk) for e in ledger.entries(report["move_id"]) if e.op == "I"}
    for table, ids in (
        ("main_project", created["project"]),
        ("main_device", created["device"]),
        ("main_site", created["site"]),
        ("main_deployment", created["deployment"]),
        ("main_sourceimagecollection", created["collection"]),
    ):
        for pk in ids:
            assert (table, str(pk)) in inserted, (table, pk)
    # Its rows are the rows the ledger captured in it, though it writes through the ORM.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT captured_rows FROM ledger_step WHERE move_id = %s AND label = %s",
            [report["move_id"], "[create-target]"],
        )
        (captured,) = cursor.fetchone()
    assert report["steps"][0]["rows"] == captured > len(created["project"])


# 8. No personal data, no credentials -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_email_or_credentials_in_output_or_logs(s, fmt, caplog):
    member = make_user("member")
    s.project.members.add(member)
    with caplog.at_level(logging.DEBUG):
        out = move_output(
            "--source-project", str(s.project.pk), "--create-project", "New",
            "--deployment-ids", str(s.dep.pk), "--execute", "--format", fmt, "--reason", "t",
        )  # fmt: skip
    for text in (out, caplog.text):
        assert "@example.com" not in text
        assert "DO-NOT-PRINT" not in text
    assert f"id={s.identifier.pk}" in out or f'"user_id":{s.identifier.pk}' in out


# 9. The new validations -------------------------------------------------------------------------


def _corrupt_after_steps(monkeypatch, sql: str, params: list[object]) -> None:
    """Run ``sql`` right after the steps (where the cached fields are refreshed), so a check
    sees a broken invariant."""
    original = ami.main.cached_fields.refresh_cached_fields

    def refresh_then_corrupt(ids):
        written = original(ids)
        with connection.cursor() as cur:
            cur.execute(sql, params)
        return written

    monkeypatch.setattr(ami.main.cached_fields, "refresh_cached_fields", refresh_then_corrupt)


def test_check_shared_resources_of_staying_deployments(s, target, monkeypatch):
    staying = add_deployment(s.project, "Dep B", 1).dep
    _corrupt_after_steps(
        monkeypatch,
        "UPDATE main_deployment SET device_id = %s WHERE id = %s",
        [s.device.pk, staying.pk],
    )
    _check_message(s, target, "1 staying deployment(s) point at a device now in the target")


def test_check_moved_job_cross_linked_to_a_source_collection(s, target, monkeypatch):
    b = add_deployment(s.project, "Dep B", 1)
    coll = make_collection(s.project, b.images, "Only B")
    job = make_job(s.project, deployment=s.dep)
    _corrupt_after_steps(
        monkeypatch,
        "UPDATE jobs_job SET source_image_collection_id = %s WHERE id = %s",
        [coll.pk, job.pk],
    )
    _check_message(
        s, target, "1 moved Job(s) reference a source_image_collection on another project"
    )


def test_check_source_collection_still_holding_moved_images(s, target, monkeypatch):
    coll = SourceImageCollection.objects.create(name="Late", project=s.project)
    _corrupt_after_steps(
        monkeypatch,
        "INSERT INTO main_sourceimagecollection_images (sourceimagecollection_id, sourceimage_id)"
        " VALUES (%s, %s)",
        [coll.pk, s.images[0].pk],
    )
    _check_message(s, target, "Source collection 'Late' still has 1 moved images")


def test_check_members_and_roles_as_planned(s, target, monkeypatch):
    _corrupt_after_steps(
        monkeypatch,
        "DELETE FROM users_user_groups WHERE user_id = %s",
        [s.identifier.pk],
    )
    _check_message(
        s,
        target,
        f"user id={s.identifier.pk} holds [] on the target, planned ['BasicMember', 'Identifier']",
    )


def test_checks_of_a_capture_left_in_the_source(s, target, monkeypatch):
    _corrupt_after_steps(
        monkeypatch,
        "UPDATE main_sourceimage SET project_id = %s WHERE id = %s",
        [s.project.pk, s.images[0].pk],
    )
    _check_message(
        s,
        target,
        "1 SourceImage still pointing to wrong project",
        "1 SourceImage leaked in source project",
        "1 moved capture(s) outside the target: their detections and classifications do not "
        "reach it",
    )


def test_check_per_deployment_counts(s, target, monkeypatch):
    detections = Detection.objects.filter(source_image__deployment=s.dep)
    before = detections.count()
    _corrupt_after_steps(
        monkeypatch,
        "DELETE FROM main_classification WHERE detection_id = %s; "
        "DELETE FROM main_detection WHERE id = %s",
        [detections[0].pk] * 2,
    )
    _check_message(s, target, f"FAIL: Dep A detections before={before} after={before - 1}")


def _check_message(s, target, *messages: str) -> None:
    out = StringIO()
    with pytest.raises(CommandError, match="Post-move validation failed; transaction rolled"):
        call_command(
            "move_project_data", "--source-project", str(s.project.pk),
            "--target-project", str(target.pk), "--deployment-ids", str(s.dep.pk),
            "--execute", "--reason", "t", stdout=out,
        )  # fmt: skip
    text = out.getvalue()
    assert "VALIDATION FAILED — ROLLING BACK" in text
    for message in messages:
        assert f"✗ {message}" in text, text
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk
    assert not Job.objects.filter(project=target).exists()


# --fire-post-save (untested in the original) ----------------------------------------------------


def test_fire_post_save_sends_post_save_for_each_moved_deployment_inside_the_move(s, target):
    from django.db.models.signals import post_save

    saved: list[tuple[int, int | None]] = []

    def on_save(sender, instance, **kwargs):
        saved.append((instance.pk, instance.project_id))

    b = add_deployment(s.project, "Dep B", 1).dep
    post_save.connect(on_save, sender=Deployment)
    try:
        out = run_move(s.project, [s.dep.pk], target=target)
        assert saved == []
        assert "pass --fire-post-save to send them" in out
        out = run_move(s.project, [b.pk], "--fire-post-save", target=target)
    finally:
        post_save.disconnect(on_save, sender=Deployment)
    assert saved == [(b.pk, target.pk)]
    assert f"post_save sent for deployments [{b.pk}] (--fire-post-save)" in out


def test_an_email_as_operator_is_refused(s, target):
    with pytest.raises(CommandError, match="--operator looks like an e-mail address"):
        run_move(s.project, [s.dep.pk], "--operator", "alice@example.com", target=target)


def test_staying_deployment_job_on_a_reassigned_collection_is_detached(s, target):
    b = add_deployment(s.project, "Dep B", 1)
    coll = make_collection(s.project, s.images, "Only A")
    job = make_job(s.project, deployment=b.dep, source_image_collection=coll)
    out = run_move(s.project, [s.dep.pk], target=target, execute=False)
    assert f"Job id={job.pk} (on a staying deployment; references moved data): will STAY" in out
    run_move(s.project, [s.dep.pk], target=target)
    job.refresh_from_db()
    assert (job.project_id, job.source_image_collection_id) == (s.project.pk, None)
    assert SourceImageCollection.objects.get(pk=coll.pk).project_id == target.pk
