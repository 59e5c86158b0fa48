"""A ledger command whose connection is lost while it reads (the backend terminated, as a
restart or a dropped network would) stops with one CommandError saying so, never a
traceback; an export stopped so leaves its output as it was."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

import ledger
from ledger.dbapi import side_connection
from tests.ledger import builders

LOST = (
    r"^the {} command was interrupted \(connection lost\) and rolled back: nothing was "
    r"changed; run it again$"
)


@pytest.fixture
def committed_move(committed_tables):
    builders.seed()
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_t_child SET name = 'a' || id")
    yield rec.move_id
    connection.close()  # the terminated one: the teardown opens a fresh connection


def _terminated_before(monkeypatch, module: str, name: str) -> None:
    """``module.name`` first has this connection's backend terminated, from another
    connection, then runs: its reads meet a lost connection."""
    target = importlib.import_module(module)
    real = getattr(target, name)

    def terminated(*args, **kwargs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        with side_connection() as side, side.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, terminated)


def test_a_verification_that_loses_its_connection_is_one_clear_error(committed_move, monkeypatch):
    _terminated_before(monkeypatch, "ledger.verify", "iter_table_groups")
    with pytest.raises(CommandError, match=LOST.format("verify_ledger")):
        call_command("verify_ledger", "--move", str(committed_move), stdout=StringIO())


def test_an_export_that_loses_its_connection_leaves_the_file_as_it_was(
    committed_move, monkeypatch, tmp_path
):
    output = tmp_path / "move.jsonl"
    output.write_bytes(b"the export of an earlier day\n")
    _terminated_before(monkeypatch, "ledger.queries", "iter_groups")
    with pytest.raises(CommandError, match=LOST.format("export_ledger")):
        call_command(
            "export_ledger",
            "--move",
            str(committed_move),
            "--output",
            str(output),
            stdout=StringIO(),
        )
    assert output.read_bytes() == b"the export of an earlier day\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["move.jsonl"]


def test_an_export_replaces_its_file_only_once_written_whole(committed_move, tmp_path):
    output = tmp_path / "move.jsonl"
    output.write_bytes(b"the export of an earlier day\n")
    call_command(
        "export_ledger", "--move", str(committed_move), "--output", str(output), stdout=StringIO()
    )
    assert output.read_bytes().startswith(b"{")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["move.jsonl"]
    out = StringIO()
    call_command("verify_ledger", "--file", str(output), stdout=out)
    assert "OK" in out.getvalue()


def test_any_other_database_error_keeps_its_traceback(committed_move, monkeypatch):
    # A bug is not a lost race: it is not dressed up as one.
    from django.db import ProgrammingError

    def broken(*args, **kwargs):
        raise ProgrammingError('relation "ledger_change" does not exist')

    monkeypatch.setattr(importlib.import_module("ledger.verify"), "iter_table_groups", broken)
    with pytest.raises(ProgrammingError, match="does not exist"):
        call_command("verify_ledger", "--move", str(committed_move), stdout=StringIO())


@pytest.mark.parametrize("where", ["setting up", "reading back"])
def test_ledger_setup_roles_says_what_a_lost_connection_left(db, monkeypatch, where):
    # Setting up is one transaction, rolled back when the connection is lost; reading the
    # roles back comes after it committed.
    from django.db import InterfaceError

    command = importlib.import_module("ledger.management.commands.ledger_setup_roles")

    def lost(*args, **kwargs):
        connection.ensure_connection()  # connected, then lost
        raise InterfaceError("connection already closed")

    monkeypatch.setattr(command, "setup_roles", lost if where == "setting up" else lambda *a: None)
    monkeypatch.setattr(command, "inspect", lost)
    expected = {
        "setting up": LOST.format("ledger_setup_roles"),
        "reading back": r"^the roles were set up; reading them back was interrupted "
        r"\(connection lost\): run ledger_setup_roles --check$",
    }[where]
    with pytest.raises(CommandError, match=expected):
        call_command("ledger_setup_roles", "--owner", "o", "--app-role", "a", stdout=StringIO())
