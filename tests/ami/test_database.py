"""Database selection: DATABASE_URL, then a local server (tests only), then the embedded one."""

from __future__ import annotations

from pathlib import Path

import pytest

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
