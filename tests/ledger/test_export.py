"""Exports: JSON lines a reviewer verifies offline, without the database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from django.db import connection, transaction

import ledger
from ledger.export import export_schema

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
