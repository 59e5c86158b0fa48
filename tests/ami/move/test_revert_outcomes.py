"""revert_move, issue 12 cases 4 and 6 (engine side): a refusal is never reported as success,
a dry run that would be refused exits 2, an already-reverted move is one conflict, progress is
shown as the revert runs, and a lost race is one CommandError that says nothing changed."""

from __future__ import annotations

import json
import re
import threading
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

import ledger.install
import ledger.replay.apply
from ami.main.management.commands.revert_move import Command
from ami.main.models import Deployment, Device, SourceImage
from ledger.dbapi import side_connection
from ledger.models import Move
from tests.ami.move.commands import dump, move_to, revert, revert_refused

pytestmark = pytest.mark.django_db

PHASE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \+\d+\.\ds (?P<name>.+)$")


def file_elsewhere(world: SimpleNamespace, image: int = 0) -> None:
    """Someone files a moved capture under a station of the source since (drift)."""
    SourceImage.objects.filter(pk=world.src.images[image].pk).update(
        project=world.src.project, deployment=world.staying.dep
    )


def moved(world: SimpleNamespace) -> int:
    return move_to(world.src.project.pk, world.target.pk, world.src.dep.pk)


def run(move_id: int, *args: str, **options: object) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("revert_move", str(move_id), *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def refused(move_id: int, *args: str, match: str = "", **options: object) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match=match) as exc:
        call_command("revert_move", str(move_id), *args, stdout=out, stderr=err, **options)
    assert exc.value.returncode == 1
    return out.getvalue(), err.getvalue()


EXECUTE = ("--execute", "--reason", "undo")


def test_a_refusal_at_scan_time_under_execute_says_refused_not_dry_run(world):
    move_id = moved(world)
    file_elsewhere(world)
    state = dump()
    out, _ = refused(move_id, *EXECUTE, match=r"revert refused, nothing was changed")
    assert "REVERT REFUSED: nothing was changed" in out
    assert "1 row(s) of main_sourceimage changed since in column project_id" in out
    assert "DRY RUN" not in out
    assert "REVERT COMPLETE" not in out
    assert dump() == state


def test_a_refusal_after_the_replay_is_never_reported_as_complete(world):
    move_id = moved(world)
    clone = Device.objects.get(project=world.target, name=world.src.device.name)
    Deployment.objects.create(name="Later", project=world.target, device=clone)
    state = dump()
    out, _ = refused(move_id, *EXECUTE, match=r"reference, through device_id")
    assert "REVERT COMPLETE" not in out
    assert "DRY RUN" not in out
    assert "[dependent] BLOCKS" in out
    assert "REVERT REFUSED: nothing was changed" in out
    out, _ = refused(move_id, *EXECUTE, "--format", "json", match=r"through device_id")
    document = json.loads(out)
    assert (document["ok"], document["executed"]) == (False, False)
    assert "revert_move_id" not in document
    assert "digest" not in document
    assert [r["kind"] for r in document["reasons"]] == ["dependent"]
    assert "reference, through device_id" in document["error"]
    assert not Move.objects.filter(kind="revert").exists()
    assert dump() == state


def test_a_dry_run_that_would_be_refused_exits_2_and_a_clean_one_0(world):
    move_id = moved(world)
    assert "DRY RUN COMPLETE: the revert would succeed" in revert(move_id)  # exit status 0
    file_elsewhere(world)
    out = revert_refused(move_id)
    assert "DRY RUN: the revert would be refused; no changes made. Reasons:" in out
    assert "REVERT COMPLETE" not in out
    parser = Command().create_parser("manage.py", "revert_move")
    assert re.search(r"^  2  dry run: the revert would be refused", parser.format_help(), re.M)


def test_an_already_reverted_move_is_one_conflict_and_stops_the_scans(world):
    move_id = moved(world)
    revert(move_id, *EXECUTE)
    reverted_by = Move.objects.get(reverts_id=move_id).pk
    out = StringIO()
    with pytest.raises(CommandError, match="would be refused") as exc:
        call_command("revert_move", str(move_id), "--format", "json", stdout=out)
    assert exc.value.returncode == 2
    conflicts = json.loads(out.getvalue())["plan"]["conflicts"]
    assert [(c["kind"], c["message"]) for c in conflicts] == [
        (
            "reverted",
            f"move {move_id} was already reverted by move {reverted_by}: to re-apply it, "
            f"revert move {reverted_by}",
        )
    ]
    text, _ = refused(
        move_id, *EXECUTE, "--skip-drifted", match=rf"already reverted by move {reverted_by}"
    )
    assert "[drift]" not in text


def test_execute_prints_the_plan_then_a_line_per_phase_and_step(world):
    move_id = moved(world)
    out, _ = run(move_id, *EXECUTE)
    lines = out.splitlines()
    phases = [m["name"] for line in lines if (m := PHASE.match(line))]
    assert phases == [
        "installing capture",
        "locking",
        "checking the ledger",
        "scanning",
        "replaying",
        "recounting",
        "sealing",
        "checks",  # checked last, once sealed
    ]
    plan = next(i for i, line in enumerate(lines) if line.startswith("REVERT MOVE"))
    replaying = next(i for i, line in enumerate(lines) if line.endswith(" replaying"))
    assert plan < replaying
    step = re.compile(r"^\[[a-z-]+\] \(rows=\d+/\d+\) \d+\.\d\d s$")
    steps = [line for line in lines if step.match(line)]
    assert any(line.startswith("[move-images] (rows=4/4)") for line in steps)
    done = next(i for i, line in enumerate(lines) if line.startswith("REVERT COMPLETE"))
    assert replaying < lines.index(steps[0]) < done


def test_verbosity_0_prints_only_the_revert_move_and_digest_once_committed(world):
    move_id = moved(world)
    state = dump()
    assert run(move_id, verbosity=0) == ("", "")  # a dry run: nothing to keep
    file_elsewhere(world)
    refused(move_id, *EXECUTE, match="refused", verbosity=0)
    SourceImage.objects.filter(pk=world.src.images[0].pk).update(
        project=world.target, deployment=world.src.dep
    )
    assert dump() == state
    out, err = run(move_id, *EXECUTE, verbosity=0)
    done = Move.objects.get(reverts_id=move_id)
    assert (out, err) == (f"revert {done.pk} digest {done.digest}\n", "")


def test_json_says_executed_and_names_the_revert_only_once_committed(world):
    move_id = moved(world)
    dry, progress = run(move_id, "--format", "json")
    document = json.loads(dry)
    assert (document["ok"], document["executed"]) == (True, False)
    assert "revert_move_id" not in document
    assert PHASE.match(progress.splitlines()[0])  # progress goes to stderr
    out, _ = run(move_id, *EXECUTE, "--format", "json")
    document = json.loads(out)
    done = Move.objects.get(reverts_id=move_id)
    assert (document["executed"], document["revert_move_id"], document["digest"]) == (
        True,
        done.pk,
        done.digest,
    )


# --- lost races -----------------------------------------------------------------------------


def _raise_in_the_replay(monkeypatch, errcode: str) -> None:
    """The third unit of the replay fails with a real server error of that SQLSTATE name."""
    real = ledger.replay.apply.run_unit
    calls = []

    def failing(cursor, *args, **kwargs):
        calls.append(1)
        if len(calls) % 3 == 0:
            cursor.execute(
                f"DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{errcode}'; END $$"
            )
        return real(cursor, *args, **kwargs)

    monkeypatch.setattr(ledger.replay.apply, "run_unit", failing)


@pytest.mark.parametrize(
    ("errcode", "cause"),
    [("deadlock_detected", "deadlock"), ("serialization_failure", "serialization failure")],
)
def test_a_deadlock_during_the_revert_is_one_clear_error(world, monkeypatch, errcode, cause):
    move_id = moved(world)
    state = dump()
    _raise_in_the_replay(monkeypatch, errcode)
    for flags in ((), ("--format", "json")):
        out, _ = refused(
            move_id,
            *EXECUTE,
            *flags,
            match=rf"^the revert was interrupted \({cause}\) and rolled back: nothing was "
            r"changed; run it again$",
        )
        assert "REVERT COMPLETE" not in out
    assert json.loads(out)["executed"] is False
    assert dump() == state
    assert not Move.objects.filter(kind="revert").exists()


@pytest.mark.django_db(transaction=True)  # the other session sees the station
def test_a_lock_not_granted_within_lock_timeout_is_one_clear_error(world):
    move_id = moved(world)
    state = dump()
    with side_connection() as other, other.cursor() as cursor:
        # Another session holds a moved station's row (an edit left open).
        cursor.execute("BEGIN")
        cursor.execute(
            "SELECT 1 FROM main_deployment WHERE id = %s FOR UPDATE", [world.src.dep.pk]
        )
        try:
            out, _ = refused(
                move_id,
                *EXECUTE,
                "--lock-timeout",
                "0.2",
                match=r"^the revert was interrupted \(lock timeout\) and rolled back: nothing "
                r"was changed; run it again \(a lock was not granted within --lock-timeout "
                r"0\.2 s",
            )
        finally:
            cursor.execute("ROLLBACK")
    assert "REVERT REFUSED" in out
    assert dump() == state


@pytest.mark.django_db(transaction=True)
def test_a_lost_connection_during_the_revert_is_one_clear_error(world, monkeypatch):
    move_id = moved(world)
    state = dump()
    real = ledger.replay.apply.run_unit
    calls = []

    def killed(cursor, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return real(cursor, *args, **kwargs)

    monkeypatch.setattr(ledger.replay.apply, "run_unit", killed)
    refused(
        move_id,
        *EXECUTE,
        match=r"^the revert was interrupted \(connection lost\) and rolled back: nothing was "
        r"changed; run it again$",
    )
    monkeypatch.setattr(ledger.replay.apply, "run_unit", real)
    from django.db import connection

    connection.close()
    assert dump() == state
    assert not Move.objects.filter(kind="revert").exists()
    revert(move_id, *EXECUTE)  # run again: it goes through
    assert Deployment.objects.get(pk=world.src.dep.pk).project_id == world.src.project.pk


@pytest.mark.django_db(transaction=True)
def test_of_two_reverts_of_one_move_one_wins_and_the_other_is_refused_naming_it(
    world, monkeypatch
):
    move_id = moved(world)
    real = ledger.replay.apply.run_unit
    entered, go = threading.Event(), threading.Event()

    def paused(*args, **kwargs):
        if not entered.is_set():
            entered.set()
            go.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(ledger.replay.apply, "run_unit", paused)
    results: dict[str, object] = {}

    def attempt(name: str) -> None:
        try:
            results[name] = run(move_id, *EXECUTE)[0]
        except CommandError as exc:
            results[name] = exc
        finally:
            connections.close_all()

    first = threading.Thread(target=attempt, args=("first",))
    first.start()
    assert entered.wait(30)
    second = threading.Thread(target=attempt, args=("second",))
    second.start()
    second.join(5)
    assert not second.is_alive(), "the second revert waited for the first"
    assert isinstance(results["second"], CommandError)
    assert re.fullmatch(
        rf"revert refused, nothing was changed:\n- move {move_id} is being reverted right now "
        rf"by ami revert_move {move_id} \(pid \d+, since .* UTC\): wait for it to finish, then "
        r"see list_moves; nothing was changed",
        str(results["second"]),
    )
    go.set()
    first.join(30)
    done = Move.objects.get(reverts_id=move_id)
    assert f"REVERT COMPLETE: move {done.pk}, digest {done.digest}" in results["first"]
    attempt("third")  # once the first committed: already reverted
    assert str(results["third"]) == (
        f"revert refused, nothing was changed:\n- move {move_id} was already reverted by move "
        f"{done.pk}: to re-apply it, revert move {done.pk}"
    )


@pytest.mark.django_db(transaction=True)
def test_a_deadlock_dropping_the_triggers_after_commit_is_no_failed_revert(world, monkeypatch):
    move_id = moved(world)

    def deadlocked_release(using: str = "default", tables=None) -> list[str]:
        with side_connection(using) as side, side.cursor() as cursor:
            cursor.execute(
                "DO $$ BEGIN RAISE EXCEPTION 'drop trigger' USING ERRCODE = "
                "'deadlock_detected'; END $$"
            )
        return []

    monkeypatch.setattr(ledger.install, "release_capture", deadlocked_release)
    out, _ = run(move_id, *EXECUTE)
    done = Move.objects.get(reverts_id=move_id)
    assert f"REVERT COMPLETE: move {done.pk}, digest {done.digest}" in out
    assert Deployment.objects.get(pk=world.src.dep.pk).project_id == world.src.project.pk


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("999",), "move 999 does not exist: run list_moves to see the recorded ids"),
        (("1", "--execute"), '--execute needs --reason "why" (it is stored with the change)'),
    ],
)
def test_json_gets_one_document_for_a_request_that_cannot_run(db, args, error):
    out = StringIO()
    with pytest.raises(CommandError, match=re.escape(error)):
        call_command("revert_move", *args, "--format", "json", stdout=out)
    assert json.loads(out.getvalue()) == {"ok": False, "executed": False, "error": error}


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_shows_a_rich_display_of_phases_and_steps(world):
    move_id = moved(world)
    out = Terminal()
    call_command("revert_move", str(move_id), *EXECUTE, stdout=out, stderr=StringIO())
    text = out.getvalue()
    assert "\x1b[" in text  # drawn for a terminal
    for name in ("locking", "scanning", "replaying", "checks", "sealing"):
        assert name in text
    assert "[move-images] (rows=4/4)" in text
    assert "✓" in text
    assert "REVERT MOVE" in text
    assert not any(PHASE.match(line) for line in text.splitlines())  # no log lines
    done = Move.objects.get(reverts_id=move_id)
    assert f"REVERT COMPLETE: move {done.pk}, digest {done.digest}" in text


@pytest.mark.django_db(transaction=True)
def test_the_revert_installs_capture_before_its_transaction_as_a_move_does(world):
    """No trigger is created or dropped on the revert's own connection (where it would hold
    its table locks until the end): the side connection installs them first."""
    from django.db import connection

    move_id = moved(world)  # committed: its triggers were released
    statements: list[str] = []

    def watch(execute, sql, params, many, context):
        statements.append(str(sql))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(watch):
        out, _ = run(move_id, *EXECUTE)
    assert "REVERT COMPLETE" in out
    ddl = [s for s in statements if re.search(r"\b(CREATE|DROP) TRIGGER\b", s, re.I)]
    assert ddl == []
