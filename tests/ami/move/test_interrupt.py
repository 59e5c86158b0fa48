"""Ctrl-C (SIGINT) or SIGTERM during a move or a revert blocked on a lock: the command stops
at once, on either driver, with one line saying nothing was changed, and nothing was.

Each command runs as ``manage.py`` in a process of its own (a signal is sent to a process),
on the test database, while the test holds a lock the command waits for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from ami.database import PROJECT_ROOT
from ami.main.models import Deployment
from ledger.models import Move
from tests.builders import make_project, setup_source

pytestmark = pytest.mark.django_db(transaction=True)


def _start(*args: str) -> subprocess.Popen[str]:
    db = connection.settings_dict
    port = f":{db['PORT']}" if db["PORT"] else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ami.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}{port}/{db['NAME']}",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", *args, "--lock-timeout", "60"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_blocked(process: subprocess.Popen[str], application: str) -> None:
    """Until the command's transaction waits for a lock (the test's)."""
    deadline = time.monotonic() + 60
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s "
                "AND wait_event_type = 'Lock' AND datname = current_database()",
                [f"{application}%"],
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.1)
    raise AssertionError(f"{application} never waited for the test's lock")


# The signal sent, and how the command names it.
SIGNALS = pytest.mark.parametrize(
    ("sent", "named"),
    [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")],
    ids=["int", "term"],
)


def _interrupt(
    process: subprocess.Popen[str], application: str, sent: signal.Signals
) -> tuple[int, str, str]:
    try:
        _wait_until_blocked(process, application)
        started = time.monotonic()
        process.send_signal(sent)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # Stopped at once, not when the lock came or --lock-timeout (60 s) ran out.
    assert time.monotonic() - started < 15
    return process.returncode, out, err


@pytest.fixture
def holder():
    """A connection of the test's own, in a transaction, to hold row locks."""
    other = connection.copy()
    with other.cursor() as cursor:
        cursor.execute("BEGIN")
    yield other
    other.close()


@SIGNALS
def test_a_signal_stops_a_move_waiting_for_a_lock_and_nothing_is_changed(holder, sent, named):
    s = setup_source(2)
    target = make_project("Target")
    with holder.cursor() as cursor:
        cursor.execute("SELECT 1 FROM main_deployment WHERE id = %s FOR UPDATE", [s.dep.pk])
    process = _start(
        "move_project_data", "--source-project", str(s.project.pk),
        "--target-project", str(target.pk), "--deployment-ids", str(s.dep.pk),
        "--execute", "--reason", "interrupted",
    )  # fmt: skip
    code, out, err = _interrupt(process, "ami move_project_data", sent)
    assert code == 1
    assert "Traceback" not in err + out
    assert err.strip().splitlines() == [
        f"CommandError: The move was interrupted ({named}) and rolled back: nothing was changed"
    ]
    assert "COMPLETE" not in out
    holder.rollback()
    assert Deployment.objects.get(pk=s.dep.pk).project_id == s.project.pk
    assert not Move.objects.exists()


@SIGNALS
def test_a_signal_stops_a_revert_waiting_for_a_lock_and_nothing_is_changed(holder, sent, named):
    s = setup_source(2)
    target = make_project("Target")
    call_command(
        "move_project_data", "--source-project", str(s.project.pk),
        "--target-project", str(target.pk), "--deployment-ids", str(s.dep.pk),
        "--execute", "--reason", "to revert", stdout=StringIO(),
    )  # fmt: skip
    move_id = Move.objects.get().pk
    with holder.cursor() as cursor:
        cursor.execute("SELECT 1 FROM main_deployment WHERE id = %s FOR UPDATE", [s.dep.pk])
    process = _start("revert_move", str(move_id), "--execute", "--reason", "interrupted")
    code, out, err = _interrupt(process, "ami revert_move", sent)
    assert code == 1
    assert "Traceback" not in err + out
    assert f"the revert was interrupted ({named}) and rolled back: nothing was changed" in err
    assert "COMPLETE" not in out
    holder.rollback()
    assert Deployment.objects.get(pk=s.dep.pk).project_id == target.pk
    assert Move.objects.count() == 1
