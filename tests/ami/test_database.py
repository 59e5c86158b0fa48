"""Database selection (DATABASE_URL, a local server for tests, the embedded one), the messages
for an unusable database, and the embedded server's clean-up."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from django.db.utils import OperationalError

from ami import database


def test_database_url_wins(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://alice:pw@db.internal:6543/antenna")
    config = database.database_config(for_tests=True)
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db.internal",
        6543,
        "antenna",
        "alice",
    )
    assert config["ENGINE"] == "django.db.backends.postgresql"


def test_tests_prefer_the_local_server(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("AMI_EMBEDDED_DB", raising=False)
    monkeypatch.setattr(database, "local_server_answers", lambda: True)
    config = database.database_config(for_tests=True)
    assert (config["HOST"], config["PORT"]) == ("127.0.0.1", 5432)


def test_commands_use_the_embedded_server_without_database_url(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(database, "local_server_answers", lambda: True)
    monkeypatch.setattr(database, "embedded_database_config", lambda: {"HOST": "/embedded"})
    assert database.database_config()["HOST"] == "/embedded"


def test_embedded_can_be_forced_for_tests(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("AMI_EMBEDDED_DB", "1")
    monkeypatch.setattr(database, "local_server_answers", lambda: True)
    monkeypatch.setattr(database, "embedded_database_config", lambda: {"HOST": "/embedded"})
    assert database.database_config(for_tests=True)["HOST"] == "/embedded"


def test_embedded_data_is_project_local_and_ignored():
    root = Path(database.__file__).resolve().parent.parent
    assert root / ".pgdata" == database.EMBEDDED_DATA_DIR
    assert ".pgdata/" in (root / ".gitignore").read_text().splitlines()


def test_ci_runs_the_readme_test_command():
    root = Path(database.__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    ci = (root / ".ci" / "run").read_text()
    command = next(
        line.strip()
        for line in ci.splitlines()
        if line.startswith("python3 -m venv") and "pytest" in line
    )
    assert command in readme


@pytest.mark.django_db
def test_connected_server_is_postgresql_15_or_newer():
    from django.db import connection

    assert connection.vendor == "postgresql"
    with connection.cursor() as cur:
        cur.execute("SHOW server_version_num")
        assert int(cur.fetchone()[0]) >= 150000


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", r"DATABASE_URL is not a URL: set it to postgres://"),
        ("bob:s3cretpw@db.internal/ami", r"DATABASE_URL is not a URL"),
        ("bob:s3cretpw@db://x", r"DATABASE_URL is not a URL"),
        ("mysql://bob:s3cretpw@db/ami", r"is a mysql:// URL, but only PostgreSQL is supported"),
        ("sqlite:///tmp/x.db", r"is a sqlite:// URL, but only PostgreSQL"),
        ("postgres://bob:s3cretpw@db:port/ami", r"cannot be parsed: .* numeric port"),
        ("postgres://bob:s3cretpw@db:5432/", r"names no database: add it after the host"),
    ],
)
def test_a_bad_database_url_says_what_to_set_without_the_password(url, message):
    with pytest.raises(database.DatabaseConfigError, match=message) as raised:
        database.parse_database_url(url)
    assert "s3cretpw" not in str(raised.value)


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "pgsql", "PostgreSQL"])
def test_postgres_url_schemes_are_accepted(scheme):
    config = database.parse_database_url(f"{scheme}://bob:pw@db:6543/ami")
    assert (config["ENGINE"], config["HOST"], config["PORT"], config["NAME"]) == (
        "django.db.backends.postgresql",
        "db",
        6543,
        "ami",
    )


def test_the_settings_refuse_a_bad_database_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://bob:pw@db/ami")
    with pytest.raises(database.DatabaseConfigError, match="only PostgreSQL is supported"):
        database.database_config()


CONFIG = {"HOST": "db.internal", "PORT": 6543, "NAME": "antenna", "USER": "bob", "PASSWORD": "pw9"}
AT = 'connection to server at "db.internal" (10.0.0.5), port 6543 failed: '


@pytest.mark.parametrize(
    ("libpq", "message"),
    [
        (
            AT + "Connection refused\n\tIs the server running on that host?",
            r"cannot connect to PostgreSQL at db\.internal:6543: connection refused "
            r"— is the server running\? check DATABASE_URL",
        ),
        (
            AT + 'FATAL:  database "antenna" does not exist',
            r"database 'antenna' does not exist on the PostgreSQL server at db\.internal:6543: "
            r"create it \(createdb antenna\) or fix the database name; check DATABASE_URL",
        ),
        (
            'could not translate host name "db.internal" to address: Name or service not known',
            r"cannot resolve the host 'db\.internal' of PostgreSQL: check DATABASE_URL",
        ),
        (
            AT + 'FATAL:  password authentication failed for user "bob"',
            r"PostgreSQL at db\.internal:6543 refused user 'bob': check user and password; "
            r"check DATABASE_URL",
        ),
        (
            AT + 'FATAL:  role "bob" does not exist',
            r"PostgreSQL at db\.internal:6543 has no user 'bob': check DATABASE_URL",
        ),
        (
            AT + "timeout expired",
            r"cannot connect .*: timed out — is the host reachable\? check DATABASE_URL",
        ),
        (
            AT + "FATAL:  no pg_hba.conf entry for host, user bob, password pw9",
            r"cannot connect to PostgreSQL at db\.internal:6543: FATAL:  no pg_hba\.conf entry "
            r"for host, user bob, password \*\*\*; check DATABASE_URL",
        ),
    ],
    ids=["refused", "no-database", "unknown-host", "bad-password", "no-role", "timeout", "other"],
)
def test_a_connection_failure_is_one_line_saying_what_to_do(monkeypatch, libpq, message):
    monkeypatch.setenv("DATABASE_URL", "postgres://bob:pw9@db.internal:6543/antenna")
    described = database.describe_connection_failure(OperationalError(libpq), CONFIG)
    assert re.fullmatch(message, described)
    assert "pw9" not in described


@pytest.mark.parametrize(
    "libpq",
    [
        "server closed the connection unexpectedly\n\tThis probably means the server terminated",
        "canceling statement due to lock timeout",
        "",
    ],
    ids=["server-gone", "lock-timeout", "empty"],
)
def test_errors_on_an_open_connection_are_not_described(libpq):
    assert database.describe_connection_failure(OperationalError(libpq), CONFIG) is None


def test_dead_handles_are_forgotten_and_live_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    dead = _pid_of_finished_process()
    path = tmp_path / database.HANDLE_PIDS_FILE
    path.write_text(json.dumps([os.getpid(), dead, "junk"]))
    assert database.forget_dead_handles(tmp_path) == [dead]
    assert json.loads(path.read_text()) == [os.getpid()]
    assert database.forget_dead_handles(tmp_path) == []
    path.write_text("[12")  # half-written by a process killed mid-write
    assert database.forget_dead_handles(tmp_path) == []
    assert json.loads(path.read_text()) == []


def _pid_of_finished_process() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def _embedded_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "AMI_EMBEDDED_DB": "1", "AMI_EMBEDDED_DATA_DIR": str(data_dir)}
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    return env


def _shell(data_dir: Path, code: str, **kwargs) -> subprocess.Popen[str]:
    """``manage.py shell -c code`` on the embedded server kept in ``data_dir``."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=database.PROJECT_ROOT,
        env=_embedded_env(data_dir),
        text=True,
        **kwargs,
    )


def _start_waiting_command(data_dir: Path) -> subprocess.Popen[str]:
    """A command holding the embedded server, once it says it is ready."""
    code = "import time; print('ready', flush=True); time.sleep(120)"
    process = _shell(data_dir, code, stdout=subprocess.PIPE)
    ready, _, _ = select.select([process.stdout], [], [], 90)
    if not ready or process.stdout.readline().strip() != "ready":
        process.kill()
        pytest.fail("the command on the embedded server did not start within 90 s")
    return process


def _handle_pids(data_dir: Path) -> list[int]:
    return json.loads((data_dir / database.HANDLE_PIDS_FILE).read_text())


def _server_pid(data_dir: Path) -> int | None:
    """The postmaster's pid while the embedded server runs, else None."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except FileNotFoundError:
        return None
    try:
        running = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return None
    return pid if running else None


@pytest.fixture(scope="module")
def embedded_dir(tmp_path_factory):
    """A data directory of its own, so the tests never touch the project's .pgdata/."""
    data_dir = tmp_path_factory.mktemp("embedded") / "pgdata"
    yield data_dir
    pid = _server_pid(data_dir)
    if pid is not None:  # a test failed with the server up
        psutil.Process(pid).terminate()
        psutil.Process(pid).wait(timeout=30)


def test_a_killed_command_does_not_keep_the_embedded_server_running(embedded_dir):
    killed = _start_waiting_command(embedded_dir)
    killed.kill()
    killed.wait(timeout=30)
    assert _handle_pids(embedded_dir) == [killed.pid]
    assert _server_pid(embedded_dir) is not None

    assert _shell(embedded_dir, "pass").wait(timeout=90) == 0
    assert _handle_pids(embedded_dir) == []
    assert _server_pid(embedded_dir) is None


def test_sigterm_stops_the_embedded_server(embedded_dir):
    command = _start_waiting_command(embedded_dir)
    assert _handle_pids(embedded_dir) == [command.pid]
    command.terminate()
    assert command.wait(timeout=60) == 128 + signal.SIGTERM
    assert _handle_pids(embedded_dir) == []
    assert _server_pid(embedded_dir) is None
