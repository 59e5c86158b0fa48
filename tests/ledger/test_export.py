"""Exports: JSON lines a reviewer verifies offline, without the database."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import msgspec
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

import ledger
from ledger.export import export_schema
from tests.ledger.builders import record

# Every test runs on groups read whole and on groups read a window at a time.
pytestmark = pytest.mark.usefixtures("key_windows")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def exported(seeded, tmp_path):
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7", arguments={"k": [1, 2]}) as rec,
        connection.cursor() as cursor,
    ):
        with rec.step("[rename]", expected_rows=10, action="update"):
            cursor.execute("UPDATE ledger_t_child SET name = 'n', secret = 'x'")
        cursor.execute("DELETE FROM ledger_t_link WHERE id = 1")
    path = tmp_path / "move.jsonl"
    with path.open("wb") as handle:
        seal = ledger.export_move(rec.move_id, handle)
    assert seal.digest == rec.digest
    return rec, path


def test_an_export_verifies_offline(exported):
    rec, path = exported
    lines = path.read_bytes().splitlines()
    assert [msgspec.json.decode(line)["type"] for line in (lines[0], lines[1], lines[-1])] == [
        "header",
        "step",
        "seal",
    ]
    assert len(lines) == 1 + 1 + 11 + 1
    report = ledger.verify_file(path, expected_digest=rec.digest)
    assert report.ok
    assert report.entries_checked == 11
    assert report.last_digest == rec.digest


def _rewrite(path: Path, index: int, change) -> None:
    lines = path.read_bytes().splitlines()
    line = msgspec.json.decode(lines[index])
    change(line)
    lines[index] = msgspec.json.encode(line)
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_a_tampered_entry_line_is_named(exported):
    rec, path = exported
    entry = msgspec.json.decode(path.read_bytes().splitlines()[5])
    _rewrite(path, 5, lambda line: line["after"].update(name="forged"))
    report = ledger.verify_file(path)
    assert not report.ok
    failure = report.failures[0]
    assert (failure.move_id, failure.entry_id) == (rec.move_id, entry["id"])
    assert f"entry {entry['id']} (line 6) does not match its leaf hash" in failure.reason


def test_a_tampered_header_or_an_unexpected_digest_fails(exported):
    _, path = exported
    assert "differs from the digest kept outside" in (
        ledger.verify_file(path, expected_digest="0" * 64).failures[0].reason
    )
    _rewrite(path, 0, lambda line: line.update(operator="someone-else"))
    assert "do not match the sealed digest" in ledger.verify_file(path).failures[0].reason


def test_a_removed_entry_line_is_named(exported):
    _, path = exported
    lines = path.read_bytes().splitlines()
    gone = msgspec.json.decode(lines[4])["id"]
    path.write_bytes(b"\n".join(lines[:4] + lines[5:]) + b"\n")
    failure = ledger.verify_file(path).failures[0]
    assert failure.entry_id == gone + 1
    assert f"expected entry {gone}" in failure.reason


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty: not an export"),
        (b"not json\n", "line 1 of .* is not an export line"),
        (
            b'{"type":"seal","move_id":1,"entry_count":0,"entries_root":"",'
            b'"prev_digest":null,"digest":""}\n',
            "does not start with a header line",
        ),
    ],
)
def test_unreadable_files_raise_a_format_error(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(ledger.ExportFormatError, match=message):
        ledger.verify_file(path)


def test_a_truncated_export_and_a_missing_file_raise(exported, tmp_path):
    _, path = exported
    lines = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join(lines[:-1]) + b"\n")
    with pytest.raises(ledger.ExportFormatError, match="no seal line: it was truncated"):
        ledger.verify_file(path)
    with pytest.raises(ledger.ExportFormatError, match=r"cannot read .*missing\.jsonl"):
        ledger.verify_file(tmp_path / "missing.jsonl")


def test_the_published_schema_is_the_generated_one():
    assert (ROOT / "docs" / "ledger-export.schema.json").read_bytes() == export_schema()


def test_offline_verification_needs_no_database(exported):
    rec, path = exported
    env = dict(os.environ, DATABASE_URL="postgres://nobody@127.0.0.1:1/unreachable")
    env["DJANGO_SETTINGS_MODULE"] = "ami.settings.base"
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "verify_ledger",
            "--file",
            str(path),
            "--digest",
            rec.digest,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


@pytest.fixture
def three(seeded, signed):
    """Three signed moves, chained."""
    moves = [
        record("UPDATE ledger_t_child SET name = 'a' || id"),
        record("UPDATE ledger_t_parent SET name = 'b'"),
        record("INSERT INTO ledger_t_parent (name) VALUES ('c')"),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the seal's FK checks, as at commit
    return moves


def _export_range(moves, path: Path) -> Path:
    with path.open("wb") as handle:
        seals = ledger.export_moves(moves[0].move_id, moves[-1].move_id, handle)
    assert [seal.digest for seal in seals] == [move.digest for move in moves]
    return path


@pytest.fixture
def range_file(three, tmp_path):
    return _export_range(three, tmp_path / "range.jsonl")


def _split(path: Path) -> tuple[bytes, list[list[bytes]]]:
    """The range line, and the lines of each move."""
    head, *rest = path.read_bytes().splitlines()
    moves: list[list[bytes]] = []
    for line in rest:
        if msgspec.json.decode(line)["type"] == "header":
            moves.append([])
        moves[-1].append(line)
    return head, moves


def _join(path: Path, head: bytes, moves: list[list[bytes]]) -> None:
    path.write_bytes(b"\n".join([head, *(line for move in moves for line in move)]) + b"\n")


def test_a_range_verifies_offline_with_its_chain_links(three, range_file, signed):
    first, last = three[0].move_id, three[-1].move_id
    report = ledger.verify_file(range_file, expected_digest=three[-1].digest, public_key=signed)
    assert report.ok, report.failures
    assert (report.moves_checked, report.last_digest) == (3, three[-1].digest)
    assert report.entries_checked == 10 + 3 + 1
    assert f"the chain links between them ({first}..{last})" in report.checked[0]
    assert "that the file holds every move of its range line, in order" in report.checked
    assert report.checked[-1].startswith("every move's signature, with key ed25519:")
    assert report.not_checked == []  # the first move opens the ledger: no link before it
    plain = ledger.verify_file(range_file)
    assert plain.ok
    assert plain.not_checked[0].startswith("that the file holds the moves that were sealed")
    assert plain.not_checked[1].startswith("that the file ends where the export ended")


def test_the_first_link_is_checked_against_the_digest_given_for_the_move_before(three, tmp_path):
    path = _export_range(three[1:], tmp_path / "tail.jsonl")
    second = three[1].move_id
    assert (
        f"move {second}'s link to the move before it (pass --prev-digest"
        in (ledger.verify_file(path).not_checked[0])
    )
    report = ledger.verify_file(path, prev_digest=three[0].digest.upper())
    assert report.ok
    assert f"move {second}'s link to the digest you gave for the move before it" in (
        report.checked
    )
    given = r"is not the digest you gave for the move before it \(beef\)"
    with pytest.raises(
        CommandError, match=rf"failed at move {second}: prev_digest {three[0].digest} {given}"
    ):
        run_verify(path, "--prev-digest", "beef")


def run_verify(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("verify_ledger", "--file", str(path), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _removed(head, moves):
    return head, [moves[0], moves[2]]


def _swapped(head, moves):
    return head, [moves[0], moves[2], moves[1]]


def _edited(head, moves):
    entry = msgspec.json.decode(moves[1][2])
    entry["after"]["name"] = "forged"
    moves[1][2] = msgspec.json.encode(entry)
    return head, moves


def _truncated(head, moves):
    return head, moves[:2]


@pytest.mark.parametrize(
    ("tamper", "at", "message"),
    [
        (_removed, 2, "chain link broken: prev_digest does not match the digest of move {0}"),
        (_swapped, 2, "chain link broken: prev_digest does not match the digest of move {0}"),
        (_edited, 1, r"entry \d+ \(line \d+\) does not match its leaf hash"),
        (
            _truncated,
            2,
            r"the file declares moves {0}..{2} but ends after move {1}: moves {2}..{2}",
        ),
    ],
    ids=["removed", "swapped", "edited", "truncated"],
)
def test_a_tampered_range_names_the_move(three, range_file, tamper, at, message):
    _join(range_file, *tamper(*_split(range_file)))
    ids = [move.move_id for move in three]
    with pytest.raises(
        CommandError, match=rf"failed at move {ids[at]}(, entry \d+)?: {message.format(*ids)}"
    ):
        run_verify(range_file)


def test_swapped_moves_are_both_named(three, range_file):
    _join(range_file, *_swapped(*_split(range_file)))
    ids = [move.move_id for move in three]
    assert [f.move_id for f in ledger.verify_file(range_file).failures] == [ids[2], ids[1]]


def test_a_cut_file_with_its_range_line_edited_needs_the_kept_digest(three, range_file):
    head, moves = _split(range_file)
    line = msgspec.json.decode(head)
    line["last_move"] = three[1].move_id
    _join(range_file, msgspec.json.encode(line), moves[:2])
    assert "that the file ends where the export ended" in run_verify(range_file)
    with pytest.raises(CommandError, match=rf"failed at move {three[1].move_id}: digest "
                       rf"{three[1].digest} differs from the digest kept outside"):  # fmt: skip
        run_verify(range_file, "--digest", three[2].digest)


def test_an_unsigned_move_in_a_range_is_refused_by_the_key(three, signed, settings, tmp_path):
    settings.LEDGER_SIGNING_KEY_FILE = None  # the forger has the database, not the key
    forged = record("UPDATE ledger_t_parent SET name = 'TICKET-99 requested by the PI'")
    path = _export_range([*three, forged], tmp_path / "four.jsonl")
    assert ledger.verify_file(path).ok
    report = ledger.verify_file(path, public_key=signed)
    assert [(f.move_id, f.reason) for f in report.failures] == [
        (forged.move_id, f"move {forged.move_id} is not signed (sealed with no signing key "
         "configured)")
    ]  # fmt: skip


def test_export_ledger_writes_a_range_that_verify_ledger_checks(three, keys, tmp_path):
    path = tmp_path / "range.jsonl"
    first, last = three[0].move_id, three[-1].move_id
    out = StringIO()
    call_command("export_ledger", "--moves", f"{first}..{last}", "--output", str(path),
                 stdout=out)  # fmt: skip
    assert f"moves {first}..{last}: 3 moves, 14 entries written to {path}" in out.getvalue()
    assert f"digest of move {last} {three[-1].digest}" in out.getvalue()
    text = run_verify(path, "--public-key", str(keys / "ledger.pub"), "--digest", three[-1].digest)
    assert f"OK: 3 move(s), 14 entries; digest of the last move: {three[-1].digest}" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--moves", "3-7"), r"--moves '3-7' is not a range: write first..last, e.g. 3..7"),
        (("--moves", "7..3"), r"--moves 7..3 is empty: put the first move first, e.g. 3..7"),
        (("--moves", "1..2", "--move", "1"), "pass --move N or --moves A..B, not both"),
        (("--moves", "{first}..999"), r"move {after} does not exist: .* \(--moves {first}..999\)"),
    ],
)
def test_export_ledger_range_errors(three, tmp_path, args, message):
    first, after = three[0].move_id, three[-1].move_id + 1
    output = tmp_path / "x.jsonl"
    with pytest.raises(CommandError, match=message.format(first=first, after=after)):
        call_command(
            "export_ledger", *(a.format(first=first) for a in args), "--output", str(output)
        )
    assert not output.exists()
