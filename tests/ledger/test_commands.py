"""Commands: output, JSON, and each user mistake as one CommandError saying how to fix it."""

from __future__ import annotations

import re
from io import StringIO

import msgspec
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

import ledger
from tests.ledger.builders import superuser_bypass


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def moves(seeded):
    arguments = {"source": 3, "target": 9, "items": [4, 5]}
    with (
        transaction.atomic(),
        ledger.recording(
            command="move_data",
            arguments=arguments,
            reason="split",
            operator="42",
            subjects={"account": [3, 9]},
        ) as move,
        connection.cursor() as cursor,
    ):
        with move.step("[move-children]", expected_rows=7, action="update"):
            cursor.execute("UPDATE ledger_t_child SET parent_id = 3")
        cursor.execute("UPDATE ledger_t_parent SET name = 'stray' WHERE id = 1")
    with (
        transaction.atomic(),
        ledger.recording(
            kind="revert",
            reverts=move.move_id,
            command="revert_move",
            reason="undo",
            operator="43",
        ) as revert,
    ):
        pass
    return move, revert


def columns(text: str) -> list[dict[str, str]]:
    """An aligned table back into rows (cells are two or more spaces apart), checking that
    every cell starts or ends where its heading does."""
    header, *lines = text.splitlines()
    names = re.split(r" {2,}", header.strip())
    rows = []
    for line in lines:
        cells = re.split(r" {2,}", line.strip())
        assert len(cells) == len(names), line
        for name, cell in zip(names, cells, strict=True):
            at = re.search(rf"(?<!\S){re.escape(name)}(?!\S)", header).start()
            assert line[at:].startswith(cell) or line[: at + len(name)].endswith(cell), line
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def test_list_moves_is_a_table_with_arguments_and_lineage(moves, settings):
    settings.LEDGER_ARGUMENT_COLUMNS = (
        ("source", "source"),
        ("target", "target"),
        ("deployments", "items"),
    )
    move, revert = moves
    text = run("list_moves")
    assert text.splitlines()[0].split() == [
        "id", "kind", "committed", "operator", "source", "target", "deployments", "lineage",
        "reason",
    ]  # fmt: skip
    rows = {r["kind"]: r for r in columns(text)}
    assert rows["move"]["id"] == str(move.move_id)
    assert (rows["move"]["source"], rows["move"]["target"]) == ("3", "9")
    assert rows["move"]["deployments"] == "[4,5]"
    assert rows["move"]["lineage"] == f"reverted by {revert.move_id}"
    assert rows["move"]["reason"] == "split"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", rows["move"]["committed"])
    assert rows["revert"]["lineage"] == f"undoes {move.move_id}"
    assert rows["revert"]["source"] == "-"
    rows = msgspec.json.decode(run("list_moves", "--subject", "account=9", "--format", "json"))
    # The revert records the subjects of the move it undoes.
    assert [r["id"] for r in rows] == [move.move_id, revert.move_id]
    assert run("list_moves", "--subject", "account=1") == "no moves recorded\n"
    assert (
        len(msgspec.json.decode(run("list_moves", "--since", "2000-01-01", "--format", "json")))
        == 2
    )


def test_list_moves_rejects_a_bad_date(db):
    with pytest.raises(CommandError, match="--since 'yesterday' is not a date: use YYYY-MM-DD"):
        run("list_moves", "--since", "yesterday")


def test_show_move_prints_steps_stray_writes_digest_and_lineage(moves):
    move, revert = moves
    text = run("show_move", str(move.move_id))
    assert "[move-children] update expected=7 captured=7" in text
    assert "U ledger_t_parent: 1 row(s)" in text
    assert f"digest       {move.digest}" in text
    assert f"reverted by move {revert.move_id}" in text
    detail = msgspec.json.decode(run("show_move", str(revert.move_id), "--format", "json"))
    assert detail["header"]["reverts_id"] == move.move_id
    assert detail["header"]["prev_digest"] == move.digest


def test_show_move_names_an_unknown_move(db):
    with pytest.raises(CommandError, match="move 77 does not exist: run list_moves"):
        run("show_move", "77")


def test_row_history_by_table_and_by_model(moves, db):
    move, _ = moves
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM ledger_t_child WHERE name = 'c4'")
        (child,) = cursor.fetchone()
    text = run("row_history", "ledger_t_child", str(child))
    assert text.splitlines()[0].split() == [
        "entry", "move", "kind", "committed", "operator", "step", "op", "change"
    ]  # fmt: skip
    (row,) = columns(text)
    assert (row["move"], row["kind"], row["step"], row["op"]) == (
        str(move.move_id), "move", "[move-children]", "U"
    )  # fmt: skip
    assert re.fullmatch(r"parent_id: \d+ → \d+", row["change"])
    history = msgspec.json.decode(run("row_history", "ledger_t_parent", "1", "--format", "json"))
    assert [(h["op"], h["after"]) for h in history] == [("U", {"name": "stray"})]
    assert "no ledger entries for auth_group row 1" in run("row_history", "auth.Group", "1")


def test_times_read_without_time_zones_show_in_the_configured_zone(moves, settings, admin_client):
    """Antenna runs with ``USE_TZ = False``: the database gives naive local times."""
    settings.USE_TZ = False
    settings.TIME_ZONE = "America/New_York"
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM ledger_t_child WHERE name = 'c4'")
        (child,) = cursor.fetchone()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d E[SD]T"
    (row,) = columns(run("row_history", "ledger_t_child", str(child)))
    assert re.fullmatch(stamp, row["committed"])
    assert re.search(f"committed  {stamp}", run("show_move", str(moves[0].move_id)))
    assert len(re.findall(stamp, run("list_moves"))) == 2
    page = admin_client.get("/admin/ledger/move/")
    assert page.status_code == 200
    assert re.search(stamp, page.content.decode())


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("main.NoSuchModel", "unknown model 'main.NoSuchModel': use app_label.ModelName"),
        ("not.a.model", "unknown model 'not.a.model'"),
        ("no_such_table", "unknown table 'no_such_table'"),
    ],
)
def test_row_history_names_an_unknown_model_or_table(db, target, message):
    with pytest.raises(CommandError, match=message):
        run("row_history", target, "1")


def test_verify_ledger_passes_then_names_the_tampered_entry(moves):
    move, _ = moves
    assert "OK: 2 move(s), 8 entries" in run("verify_ledger")
    report = msgspec.json.decode(
        run("verify_ledger", "--move", str(move.move_id), "--format", "json")
    )
    assert report["ok"] is True
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SELECT min(id) FROM ledger_change WHERE move_id = %s", [move.move_id])
        entry = cursor.fetchone()[0]
    with superuser_bypass(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_change SET before = '{}' WHERE id = %s", [entry])
    with pytest.raises(
        CommandError, match=f"failed at move {move.move_id}, entry {entry}: .*recorded hash"
    ):
        run("verify_ledger")
    # The failure is said once: in the error, not also on stderr before it.
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("verify_ledger", stdout=StringIO(), stderr=err)
    assert err.getvalue() == ""
    assert str(raised.value).count(f"failed at move {move.move_id}") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--move", "999"), "move 999 does not exist"),
        (("--digest", "ab"), "--digest goes with --move N or --file F"),
        (("--file", "x", "--move", "1"), "either --file .* or --move"),
        (("--file", "/nonexistent/move.jsonl"), "cannot read /nonexistent/move.jsonl"),
    ],
)
def test_verify_ledger_user_errors(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("verify_ledger", *args)


def test_export_then_verify_the_file(moves, tmp_path):
    move, _ = moves
    path = tmp_path / "move.jsonl"
    text = run("export_ledger", "--move", str(move.move_id), "--output", str(path))
    assert f"digest {move.digest}" in text
    assert "OK: 1 move(s), 8 entries" in run(
        "verify_ledger", "--file", str(path), "--digest", move.digest
    )
    out = StringIO()
    with pytest.raises(CommandError, match="differs from the digest kept outside"):
        call_command("verify_ledger", "--file", str(path), "--digest", "f" * 64, stdout=out)
    # Not "checked" where it did not hold.
    assert "examined: the digest kept outside the database" in out.getvalue()
    assert "checked:" not in out.getvalue()
    schema = tmp_path / "schema.json"
    run("export_ledger", "--schema", "--output", str(schema))
    assert schema.read_bytes() == ledger.export_schema()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--output", "x.jsonl"), "pass --move <id>"),
        (("--move", "999", "--output", "x.jsonl"), "move 999 does not exist"),
    ],
)
def test_export_ledger_user_errors(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("export_ledger", *args)


def test_export_ledger_names_an_unwritable_output(moves):
    move, _ = moves
    with pytest.raises(CommandError, match=r"cannot write /nonexistent/dir/x\.jsonl"):
        run("export_ledger", "--move", str(move.move_id), "--output", "/nonexistent/dir/x.jsonl")


def test_list_moves_shows_the_arguments_whole_when_no_columns_are_configured(moves, settings):
    settings.LEDGER_ARGUMENT_COLUMNS = ()
    text = run("list_moves")
    assert "arguments" in text.splitlines()[0].split()
    rows = columns(text)
    assert rows[0]["arguments"] == '{"items":[4,5],"source":3,"target":9}'
