"""The README's usage block works as written, on a new database, each line its own process."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from ami.database import PROJECT_ROOT

pytestmark = pytest.mark.slow

MANAGE = ".venv/bin/python manage.py"
EXECUTED = re.compile(r"move id: (\d+); digest: ([0-9a-f]{64})")


def usage_commands() -> list[str]:
    """The lines of the README's ``## Usage`` shell block, continuations joined, comments off."""
    readme = (Path(PROJECT_ROOT) / "README.md").read_text()
    section = readme.split("## Usage", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    return [re.sub(r"\s+#\s.*$", "", line).strip() for line in lines if line.strip()]


def database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{db['USER']}@{db['HOST']}{port}/{name}"


@pytest.fixture
def new_database(django_db_blocker):
    name = f"readme_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with django_db_blocker.unblock(), connection._nodb_cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield database_url(name)
    with django_db_blocker.unblock(), connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_usage_block_runs_as_written(new_database, tmp_path):
    commands = usage_commands()
    assert commands[0] == f"{MANAGE} run_demo", "the block starts from run_demo"
    env = {**os.environ, "DATABASE_URL": new_database, "LEDGER_KEYS_DIR": str(tmp_path / "keys")}
    env.pop("DJANGO_SETTINGS_MODULE", None)  # pytest-django's; the commands use their own
    last_move: list[str] = []
    digest = ""
    for line in commands:
        assert line.startswith(MANAGE), line
        args = shlex.split(line[len(MANAGE) :])
        if args[0] == "move_project_data":
            # "move_project_data ... --execute" is the reviewed dry run again, executed.
            args = [*last_move, *args[2:]] if args[1] == "..." else args
            last_move = args
        args = [a.replace("<digest>", digest) for a in args]
        done = subprocess.run(
            [sys.executable, str(Path(PROJECT_ROOT) / "manage.py"), *args],
            cwd=tmp_path,  # the files the block writes (move-3.html, move-3.jsonl) land here
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert done.returncode == 0, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        if args[0] == "move_project_data" and "--execute" in args:
            found = EXECUTED.search(done.stdout)
            assert found, done.stdout[-2000:]
            assert found.group(1) == "3", "the README says the move gets id 3"
            digest = found.group(2)
    assert digest, "the execute printed a move id and digest"
    assert (tmp_path / "move-3.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "move-3.jsonl").stat().st_size > 0
    assert sorted(p.name for p in (tmp_path / "keys").iterdir())[:2] == [
        "checkpoint-" + new_database.rsplit("/", 1)[1] + ".jsonl",
        "fingerprint.key",
    ]
