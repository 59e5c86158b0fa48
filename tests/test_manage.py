"""manage.py: a database that cannot be used ends any command with one line, not a traceback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from ami.database import PROJECT_ROOT

PASSWORD = "s3cretpw"


def manage(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest-django's; commands use ami.settings.base
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_url(name: str) -> str:
    """The test server's URL, for the database ``name``."""
    db = settings.DATABASES["default"]
    host = quote(str(db["HOST"]), safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}:{PASSWORD}@{host}{port}/{name}"


def missing_database_url() -> str:
    """The test server, with a database name that does not exist on it."""
    return server_url(f"uxerr_missing_{os.getpid()}")


def email_user_url() -> str:
    """The test server, as a user named by an e-mail address (no such role there)."""
    url = server_url(str(settings.DATABASES["default"]["NAME"]))
    return url.replace(f"//{settings.DATABASES['default']['USER']}:", "//ana%40example.org:", 1)


REFUSED = (
    r"error: cannot connect to PostgreSQL at 127\.0\.0\.1:\d+: connection refused "
    r"— is the server running\? check DATABASE_URL"
)
CASES = {
    "refused": (
        lambda: f"postgres://bob:{PASSWORD}@127.0.0.1:{free_port()}/ami",
        "list_moves",
        REFUSED,
    ),
    "refused-core-command": (
        lambda: f"postgres://bob:{PASSWORD}@127.0.0.1:{free_port()}/ami",
        "showmigrations",
        REFUSED,
    ),
    "missing-database": (
        missing_database_url,
        "list_moves",
        r"error: database 'uxerr_missing_\d+' does not exist on the PostgreSQL server at .+: "
        r"create it \(createdb uxerr_missing_\d+\) or fix the database name; check DATABASE_URL",
    ),
    "missing-database-move-execute": (
        missing_database_url,
        (
            "move_project_data",
            "--source-project",
            "1",
            "--target-project",
            "2",
            "--deployment-ids",
            "3",
            "--execute",
            "--reason",
            "r",
        ),
        r"error: database 'uxerr_missing_\d+' does not exist on the PostgreSQL server at .+: "
        r"create it \(createdb uxerr_missing_\d+\) or fix the database name; check DATABASE_URL",
    ),
    "e-mail-user": (
        email_user_url,
        "list_moves",
        r"error: PostgreSQL at .+ has no user \(an e-mail address, not shown\): check "
        r"DATABASE_URL",
    ),
    "not-a-url": (
        lambda: "not a url",
        "list_moves",
        r"error: DATABASE_URL is not a URL: set it to postgres://USER:PASSWORD@HOST:5432/NAME, "
        r"or unset it to use the embedded server",
    ),
    "mysql": (
        lambda: f"mysql://bob:{PASSWORD}@localhost/ami",
        "list_moves",
        r"error: DATABASE_URL is a mysql:// URL, but only PostgreSQL is supported .*: "
        r"set it to postgres://USER:PASSWORD@HOST:5432/NAME",
    ),
}


@pytest.mark.parametrize(("make_url", "command", "pattern"), CASES.values(), ids=CASES.keys())
def test_an_unusable_database_is_one_line_without_the_password(make_url, command, pattern):
    args = (command,) if isinstance(command, str) else command
    result = manage(*args, database_url=make_url())
    assert result.returncode == 1
    assert re.fullmatch(pattern, result.stderr.strip()), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert "@example.org" not in result.stdout + result.stderr


def test_traceback_flag_still_shows_the_traceback():
    url = f"postgres://bob:{PASSWORD}@127.0.0.1:{free_port()}/ami"
    result = manage("list_moves", "--traceback", database_url=url)
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    # libpq's wording through psycopg2, or psycopg 3's own
    assert re.search(
        r"OperationalError: (connection to server at .* failed|connection failed: Connection "
        r"refused)",
        result.stderr,
    )


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (
            ("list_moves", "--project", "abc"),
            r"CommandError: --project 'abc' is not a project id: pass a number, e\.g\. 7",
        ),
        (
            ("row_history", "main.Deployment", "abc"),
            r"CommandError: 'abc' is not a primary key of main\.Deployment \(.*\): "
            r"pass the row's id, e\.g\. row_history main\.Deployment 3",
        ),
    ],
    ids=["list_moves", "row_history"],
)
def test_a_bad_id_is_one_line_and_a_failure(db, args, pattern):
    result = manage(*args, database_url=server_url(connection.settings_dict["NAME"]))
    assert result.returncode == 1
    assert re.fullmatch(pattern, result.stderr.strip()), result.stderr
    assert result.stdout == ""
