"""A move on a live platform: others read and write around it, stale writers and overlapping
moves are refused cleanly, lost races are one error, and execution is bound to the plan the
operator reviewed.

The moves here run in a thread of their own, paused inside their transaction (after a chosen
step) while the test probes the database from its own connection.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.utils import DatabaseError

import ami.move.apply
from ami.jobs.models import Job
from ami.main.models import Deployment, SourceImage
from ami.move import MoveRequest, build_plan, execute_move, plan_digest
from ami.move.errors import MoveBusy, PlanChanged, RunningJobs, ValidationFailed
from ledger.models import Move
from tests.builders import add_deployment, make_collection, make_job, make_project, setup_source

pytestmark = pytest.mark.django_db(transaction=True)


class PausedMove:
    """A move run in its own thread and connection, held after ``after`` until released."""

    def __init__(self, args: list[str], after: str) -> None:
        self.args = args
        self.after = after
        self.paused = threading.Event()
        self.go = threading.Event()
        self.error: BaseException | None = None
        self.out = StringIO()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            call_command("move_project_data", *self.args, stdout=self.out, stderr=StringIO())
        except BaseException as exc:  # handed to the test thread
            self.error = exc
        finally:
            self.paused.set()
            connections.close_all()

    def pause_step(self, ctx):
        from ami.move.structs import StepResult

        if threading.current_thread() is self.thread:  # other moves run through
            self.paused.set()
            assert self.go.wait(30), "the test never released the move"
        return StepResult(label="[paused]", action="none", rows=0, expected_rows=0)

    def finish(self) -> None:
        self.go.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


@contextmanager
def paused(monkeypatch, args: list[str], after: str = "[move-occurrences]"):
    """Start ``move_project_data ARGS`` and yield once it is paused after step ``after``."""
    move = PausedMove(args, after)
    steps = []
    for label, step in ami.move.apply.STEPS:
        steps.append((label, step))
        if label == after:
            steps.append(("[paused]", move.pause_step))
    monkeypatch.setattr(ami.move.apply, "STEPS", tuple(steps))
    move.thread.start()
    assert move.paused.wait(30), "the move never reached its pause"
    try:
        yield move
    finally:
        move.finish()


def _args(source, target, deployments, *extra: str) -> list[str]:
    return [
        "--source-project", str(source.pk), "--target-project", str(target.pk),
        "--deployment-ids", ",".join(str(d) for d in deployments),
        "--execute", "--reason", "live test", *extra,
    ]  # fmt: skip


def _timed(sql: str, params=(), timeout: str = "2s") -> float:
    """Run ``sql`` on another connection in autocommit; seconds it took."""
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{timeout}'")
            start = time.perf_counter()
            cursor.execute(sql, params)
            return time.perf_counter() - start
    finally:
        other.close()


@pytest.fixture
def world():
    """Source with two stations to move and one that stays, a target, and a third project."""
    s = setup_source(3)
    second = add_deployment(s.project, "Dep A2", 2, occurrences=True, taxon=s.species)
    staying = add_deployment(s.project, "Dep B", 2)
    target = make_project("Target")
    third = make_project("Third")
    elsewhere = add_deployment(third, "Dep C", 2)
    return s, second, staying, target, third, elsewhere


def test_others_read_everything_and_write_untouched_rows_while_the_move_holds_its_locks(
    world, monkeypatch
):
    s, second, staying, target, third, elsewhere = world
    moved = [s.dep.pk, second.dep.pk]
    with paused(monkeypatch, _args(s.project, target, moved)):
        probes = [
            ("SELECT count(*) FROM main_sourceimage WHERE project_id = %s", [s.project.pk]),
            ("SELECT name FROM main_project WHERE id = %s", [s.project.pk]),
            ("SELECT count(*) FROM main_occurrence", []),
            ("SELECT count(*) FROM main_deployment WHERE id = ANY(%s)", [moved]),
            (
                "INSERT INTO main_sourceimage (project_id, deployment_id, path, test_image, "
                "created_at, updated_at) VALUES (%s, %s, 'new.jpg', false, now(), now())",
                [third.pk, elsewhere.dep.pk],
            ),
            (  # a staying station of the very source project
                "INSERT INTO main_sourceimage (project_id, deployment_id, path, test_image, "
                "created_at, updated_at) VALUES (%s, %s, 'new.jpg', false, now(), now())",
                [s.project.pk, staying.dep.pk],
            ),
            ("UPDATE main_project SET description = 'edited' WHERE id = %s", [third.pk]),
            ("UPDATE main_deployment SET description = 'x' WHERE id = %s", [staying.dep.pk]),
        ]
        for sql, params in probes:
            assert _timed(sql, params) < 0.5, sql
    assert Deployment.objects.get(pk=second.dep.pk).project_id == target.pk


def test_every_moved_deployment_is_locked_before_the_first_write(world, monkeypatch):
    s, second, _staying, target, _third, _elsewhere = world
    moved = [s.dep.pk, second.dep.pk]
    with paused(monkeypatch, _args(s.project, target, moved), after="[create-target]"):
        for dep in moved:
            with pytest.raises(DatabaseError, match="lock timeout"):
                _timed(
                    "UPDATE main_deployment SET name = 'x' WHERE id = %s", [dep], timeout="200ms"
                )


def test_a_stale_writer_is_refused(world, monkeypatch):
    s, _second, _staying, target, _third, _elsewhere = world
    outcome: list[object] = []

    def stale_insert() -> None:
        # A writer that read the deployment before the move: it still uses the source.
        try:
            with transaction.atomic():
                SourceImage.objects.create(
                    project_id=s.project.pk, deployment_id=s.dep.pk, path="stale.jpg"
                )
            outcome.append("committed")
        except DatabaseError as exc:
            outcome.append(exc)
        finally:
            connections.close_all()

    with paused(monkeypatch, _args(s.project, target, [s.dep.pk])) as move:
        writer = threading.Thread(target=stale_insert)
        writer.start()
        writer.join(1)
        assert writer.is_alive(), "the stale writer did not wait for the move"
        move.finish()
        writer.join(30)
    assert move.error is None
    [error] = outcome
    assert isinstance(error, DatabaseError)
    assert "main_sourceimage_project_follows_deployment" in str(error)
    assert not SourceImage.objects.filter(path="stale.jpg").exists()
    assert SourceImage.objects.filter(project_id=target.pk, deployment_id=s.dep.pk).count() == 3


def test_an_overlapping_move_is_refused_naming_the_move_that_holds_the_deployments(
    world, monkeypatch
):
    s, second, _staying, target, third, _elsewhere = world
    busy = (
        rf"deployment {second.dep.pk} is being moved or reverted right now by "
        r"ami move_project_data \(pid \d+, since .* UTC\).*nothing was changed"
    )
    with (
        paused(monkeypatch, _args(s.project, target, [s.dep.pk, second.dep.pk])),
        pytest.raises(MoveBusy, match=busy),
    ):
        execute_move(
            MoveRequest(
                source_project_id=s.project.pk,
                target_project_id=third.pk,
                deployment_ids=(second.dep.pk,),
                reason="overlap",
            )
        )
    assert Deployment.objects.get(pk=second.dep.pk).project_id == target.pk


def test_moves_of_disjoint_deployments_run_side_by_side(world, monkeypatch):
    s, second, _staying, target, third, _elsewhere = world
    with paused(monkeypatch, _args(s.project, target, [s.dep.pk])):
        started = time.perf_counter()
        report = execute_move(
            MoveRequest(
                source_project_id=s.project.pk,
                target_project_id=third.pk,
                deployment_ids=(second.dep.pk,),
                reason="alongside",
            )
        )
        assert time.perf_counter() - started < 20
    assert report.move_id == 1  # sealed first: ids follow the order of the seals
    assert Deployment.objects.get(pk=second.dep.pk).project_id == third.pk
    assert Deployment.objects.get(pk=s.dep.pk).project_id == target.pk


def test_a_lock_held_elsewhere_is_one_clean_error_after_the_lock_timeout(world):
    s, _second, _staying, target, _third, _elsewhere = world
    holder = connection.copy()
    try:
        with holder.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT 1 FROM main_deployment WHERE id = %s FOR UPDATE", [s.dep.pk])
            with pytest.raises(
                CommandError,
                match=r"^The move could not lock the rows it needs within --lock-timeout 0.3 s "
                r"\(other transactions hold them\): nothing was changed",
            ):
                call_command(
                    "move_project_data",
                    *_args(s.project, target, [s.dep.pk], "--lock-timeout", "0.3"),
                    stdout=StringIO(),
                )
            cursor.execute("ROLLBACK")
    finally:
        holder.close()
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk


def test_a_lost_connection_is_one_clean_error(world, monkeypatch):
    s, _second, _staying, target, _third, _elsewhere = world
    with (
        paused(monkeypatch, _args(s.project, target, [s.dep.pk])) as move,
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'ami move_project_data' AND pid <> pg_backend_pid() "
            "AND datname = current_database()"
        )
        assert cursor.fetchone()[0]
    assert isinstance(move.error, CommandError)
    assert str(move.error).startswith("The connection to the database was lost during the move")
    assert "nothing was changed" in str(move.error)
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk


def test_a_deadlock_is_one_clean_error(world, monkeypatch):
    s, _second, _staying, target, _third, _elsewhere = world
    job = make_job(s.project, deployment=s.dep)
    other = connection.copy()
    with (
        paused(monkeypatch, _args(s.project, target, [s.dep.pk])) as move,
        other.cursor() as cursor,
    ):
        cursor.execute("BEGIN")
        cursor.execute("UPDATE jobs_job SET name = 'mine' WHERE id = %s", [job.pk])
        move.go.set()  # the move's [move-jobs] now waits for this transaction
        time.sleep(0.3)
        cursor.execute("SET deadlock_timeout = '5s'")  # let the move detect it first
        try:
            cursor.execute("UPDATE main_deployment SET name = 'x' WHERE id = %s", [s.dep.pk])
        finally:
            cursor.execute("ROLLBACK")
            other.close()
    assert isinstance(move.error, CommandError)
    assert str(move.error).startswith("The move was stopped by a deadlock")
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk


def test_a_running_project_level_job_on_a_mixed_collection_blocks_the_move(world):
    s, _second, staying, target, _third, _elsewhere = world
    mixed = make_collection(s.project, s.images + staying.images, "All Images")
    job = make_job(s.project, source_image_collection=mixed, status="STARTED")
    request = _request(s, target, [s.dep.pk])
    with pytest.raises(RunningJobs, match=rf"Job\(s\) {job.pk} touching the moved data"):
        execute_move(request)
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk
    Job.objects.filter(pk=job.pk).update(status="SUCCESS")
    execute_move(request)


def test_expect_plan_refuses_a_plan_that_changed_since_the_dry_run_and_names_what(world):
    s, _second, _staying, target, _third, _elsewhere = world
    request = _request(s, target, [s.dep.pk])
    reviewed = plan_digest(build_plan(request))
    SourceImage.objects.create(project=s.project, deployment=s.dep, path="late.jpg")
    with pytest.raises(
        PlanChanged,
        match=r"changed since the dry run you reviewed \(projects, deployments differ; plan",
    ):
        execute_move(request, expect_plan=reviewed)
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk
    report = execute_move(request, expect_plan=plan_digest(build_plan(request)))
    assert report.plan.totals.source_images == 4


@contextmanager
def paused_revert(monkeypatch, move_id: int):
    """Start ``revert_move MOVE --execute`` in a thread; yield once its replay and recount are
    done (its locks held, its checks and seal to come); ``failure`` holds what it raised."""
    import ledger.replay.engine as engine

    held, go = threading.Event(), threading.Event()
    real_outcome = engine._outcome
    failure: list[BaseException] = []

    def holding(*args, **kwargs):
        if threading.current_thread() is thread:
            held.set()
            assert go.wait(30), "the test never released the revert"
        return real_outcome(*args, **kwargs)

    def revert() -> None:
        try:
            call_command(
                "revert_move", str(move_id), "--execute", "--reason", "live test",
                stdout=StringIO(), stderr=StringIO(),
            )  # fmt: skip
        except BaseException as exc:  # handed to the test thread
            failure.append(exc)
        finally:
            held.set()
            connections.close_all()

    monkeypatch.setattr(engine, "_outcome", holding)
    thread = threading.Thread(target=revert)
    thread.start()
    try:
        assert held.wait(30)
        assert not failure, failure
        yield failure
    finally:
        go.set()
        thread.join(60)


def _request(s, target, deployments) -> MoveRequest:
    return MoveRequest(
        source_project_id=s.project.pk,
        target_project_id=target.pk,
        deployment_ids=tuple(deployments),
        reason="t",
    )


def _moved(s, target, deployments) -> int:
    move_id = execute_move(_request(s, target, deployments)).move_id
    assert move_id is not None
    return move_id


def test_others_read_everything_and_write_untouched_rows_while_a_revert_holds_its_locks(
    world, monkeypatch
):
    """A revert is a move backwards: it locks the rows it restores, never whole tables."""
    s, second, staying, target, third, elsewhere = world
    moved = [s.dep.pk, second.dep.pk]
    with paused_revert(monkeypatch, _moved(s, target, moved)) as failure:
        capture = (
            "INSERT INTO main_sourceimage (project_id, deployment_id, path, test_image, "
            "created_at, updated_at) VALUES (%s, %s, 'new.jpg', false, now(), now())"
        )
        probes = [
            ("SELECT count(*) FROM main_sourceimage WHERE project_id = %s", [target.pk]),
            ("SELECT count(*) FROM main_occurrence", []),
            ("SELECT count(*) FROM main_deployment WHERE id = ANY(%s)", [moved]),
            (capture, [third.pk, elsewhere.dep.pk]),
            (capture, [s.project.pk, staying.dep.pk]),
            ("UPDATE main_project SET description = 'edited' WHERE id = %s", [third.pk]),
            ("UPDATE main_deployment SET description = 'x' WHERE id = %s", [staying.dep.pk]),
            ("UPDATE main_event SET group_by = 'x' WHERE deployment_id = %s", [elsewhere.dep.pk]),
        ]
        for sql, params in probes:
            assert _timed(sql, params) < 0.5, sql
    assert not failure, failure
    assert Deployment.objects.get(pk=second.dep.pk).project_id == s.project.pk


def test_a_detection_another_session_adds_during_a_revert_does_not_refuse_it(world, monkeypatch):
    s, _second, _staying, target, _third, _elsewhere = world
    move_id = _moved(s, target, [s.dep.pk])
    capture = SourceImage.objects.filter(deployment=s.dep).order_by("pk").first()
    with paused_revert(monkeypatch, move_id) as failure:
        _timed(
            "INSERT INTO main_detection (source_image_id, created_at, updated_at) "
            "VALUES (%s, now(), now())",
            [capture.pk],
        )
    assert not failure, failure
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk


def test_a_detection_another_session_adds_to_a_moved_capture_does_not_fail_the_move(
    world, monkeypatch
):
    """Detections have no project: the one added meanwhile simply moves with its capture. The
    move's own count check judges what the move wrote, not what others add alongside."""
    s, _second, _staying, target, _third, _elsewhere = world
    capture = SourceImage.objects.filter(deployment=s.dep).order_by("pk").first()
    with paused(monkeypatch, _args(s.project, target, [s.dep.pk])) as move:
        _timed(
            "INSERT INTO main_detection (source_image_id, created_at, updated_at) "
            "VALUES (%s, now(), now())",
            [capture.pk],
        )
    assert move.error is None, move.out.getvalue()
    assert "MOVE COMPLETE" in move.out.getvalue()
    assert Deployment.objects.get(pk=s.dep.pk).project_id == target.pk


@contextmanager
def held_at_the_seal(work, application: str = "ami move_project_data"):
    """Run ``work()`` in a thread, and yield once it waits for the ledger's chain lock at its
    seal (held by the test); yield a list that ends up holding its error (None if none)."""
    from ledger import config

    holder = connection.copy()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            work()
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)
        finally:
            connections.close_all()

    try:
        with holder.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [config.lock_key()])
            thread = threading.Thread(target=run)
            thread.start()
            deadline = time.monotonic() + 30
            while True:
                cursor.execute("SELECT pg_stat_clear_snapshot()")  # read afresh in a transaction
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory' "
                    "AND application_name LIKE %s AND datname = current_database()",
                    [f"{application}%"],
                )
                if cursor.fetchone()[0]:
                    break
                assert time.monotonic() < deadline, "the move never reached its seal"
                assert thread.is_alive(), outcome
                time.sleep(0.05)
            yield outcome
            cursor.execute("ROLLBACK")
        thread.join(60)
        assert not thread.is_alive()
    finally:
        holder.close()


def test_a_moved_capture_linked_to_a_source_collection_while_the_move_seals_refuses_it(world):
    """Checked last, once sealed: what another session commits while the move waits for the
    ledger's chain lock is seen before the commit."""
    s, _second, staying, target, _third, _elsewhere = world
    staying_only = make_collection(s.project, staying.images, "Staying sample")
    request = _request(s, target, [s.dep.pk])
    with held_at_the_seal(lambda: execute_move(request)) as outcome:
        _timed(
            "INSERT INTO main_sourceimagecollection_images "
            "(sourceimagecollection_id, sourceimage_id) VALUES (%s, %s)",
            [staying_only.pk, s.images[0].pk],
        )
    (error,) = outcome
    assert isinstance(error, ValidationFailed)
    assert not error.report.ok
    assert any("Staying sample" in m for c in error.report.checks for m in c.messages)
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk
    assert SourceImage.objects.get(pk=s.images[0].pk).project_id == s.project.pk
    assert not Move.objects.exists()


def test_a_job_started_on_the_moved_data_while_the_move_seals_refuses_it(world):
    s, _second, staying, target, _third, _elsewhere = world
    mixed = make_collection(s.project, s.images + staying.images, "All Images")
    job = make_job(s.project, source_image_collection=mixed, status="CREATED")
    request = _request(s, target, [s.dep.pk])
    with held_at_the_seal(lambda: execute_move(request)) as outcome:
        _timed("UPDATE jobs_job SET status = 'STARTED' WHERE id = %s", [job.pk])
    (error,) = outcome
    assert isinstance(error, RunningJobs)
    assert str(error).startswith(f"Job(s) {job.pk} touching the moved data started while")
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk
    assert not Move.objects.exists()


@pytest.mark.parametrize("write", ["collection link", "job"])
def test_a_reverted_capture_referenced_from_the_target_while_the_revert_seals_refuses_it(
    world, write
):
    from ledger.replay import ReplayConflict, revert

    s, _second, _staying, target, _third, _elsewhere = world
    move_id = _moved(s, target, [s.dep.pk])
    target_only = make_collection(target, [], "Target sample")
    with held_at_the_seal(
        lambda: revert(move_id, execute=True, reason="t", operator="7"), "ami revert_move"
    ) as outcome:
        if write == "job":
            Job.objects.create(name="late", project=target, source_image_single=s.images[0])
        else:
            _timed(
                "INSERT INTO main_sourceimagecollection_images "
                "(sourceimagecollection_id, sourceimage_id) VALUES (%s, %s)",
                [target_only.pk, s.images[0].pk],
            )
    (error,) = outcome
    assert isinstance(error, ReplayConflict)
    # Found by the checks once sealed, the revert runs again scanning first: its scans name it.
    assert str(error).startswith("revert refused, nothing was changed:")
    assert ("row(s) of jobs_job" if write == "job" else "put into collections") in str(error)
    assert Deployment.objects.get(pk=s.dep.pk).project_id == target.pk
    assert Move.objects.count() == 1


def test_a_second_revert_of_a_move_being_reverted_is_refused_at_once_naming_the_first(
    world, monkeypatch
):
    s, _second, _staying, target, _third, _elsewhere = world
    move_id = _moved(s, target, [s.dep.pk])
    with paused_revert(monkeypatch, move_id) as failure:
        for extra in ([], ["--execute", "--reason", "again"]):
            started = time.monotonic()
            with pytest.raises(
                CommandError,
                match=rf"move {move_id} is being reverted right now by ami revert_move "
                r"\d+ \(pid \d+, since .* UTC\): wait for it",
            ):
                call_command("revert_move", str(move_id), *extra, stdout=StringIO())
            assert time.monotonic() - started < 5  # not after --lock-timeout (10 s)
    assert not failure
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk  # the first's work
