"""Database selection: DATABASE_URL, then a local server (tests only), then the embedded one."""

from __future__ import annotations

import re
from pathlib import Path

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
