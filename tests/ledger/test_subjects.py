"""Subjects: what a move concerns, stored as data the ledger does not interpret, sealed in the
header (version 3, and only when given: older headers keep their digests), GIN-indexed, and
filtered on by ``list_moves --subject`` and the filters a domain registers."""

from __future__ import annotations

from hashlib import sha256
from io import StringIO

import msgspec
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

import ledger
from ledger.digest import MOVE_PREFIX, encode, move_digest
from ledger.filters import unregister_list_filter
from ledger.models import Move
from tests.ledger.builders import superuser_bypass


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def record(subjects=None, *, kind="move", reverts=None, name="x"):
    with (
        transaction.atomic(),
        ledger.recording(
            kind=kind,
            reverts=reverts,
            command="t",
            reason="r",
            operator="7",
            subjects=subjects,
        ) as rec,
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_t_parent SET name = %s WHERE id = 1", [name])
    return rec


def ids(rows) -> list[int]:
    return [row["id"] for row in rows]


def listed(*args: str) -> list[int]:
    return ids(msgspec.json.decode(run("list_moves", "--format", "json", *args)))


def test_subjects_are_stored_sealed_and_verified(seeded):
    rec = record({"account": 7, "items": [3, 4], "tag": "spring"})
    header, digest = ledger.read_header(rec.move_id)
    assert header.v == 3
    assert header.subjects == {"account": 7, "items": [3, 4], "tag": "spring"}
    assert digest == rec.digest == move_digest(header)
    assert ledger.verify().ok
    stored = Move.objects.get(pk=rec.move_id).subjects
    assert stored == {"account": 7, "items": [3, 4], "tag": "spring"}


@pytest.mark.parametrize(
    "edit",
    [
        "jsonb_set(subjects, '{account}', '8')",
        "NULL",
    ],
    ids=["edited", "removed"],
)
def test_an_edit_of_the_subjects_breaks_the_digest(seeded, edit):
    rec = record({"account": 7})
    with superuser_bypass(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE ledger_move SET subjects = {edit} WHERE id = %s", [rec.move_id])
    report = ledger.verify()
    assert not report.ok
    assert report.failures[0].move_id == rec.move_id
    assert "digest" in report.failures[0].reason


def test_subjects_added_to_a_move_sealed_without_them_break_its_digest(seeded):
    rec = record()
    with superuser_bypass(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_move SET subjects = '{\"account\": 7}' WHERE id = %s", [rec.move_id]
        )
    assert not ledger.verify().ok


def test_a_header_without_subjects_encodes_as_before_they_existed(seeded):
    """Version 2 headers: no ``subjects`` key at all, so digests sealed earlier still hold."""
    rec = record()
    header, digest = ledger.read_header(rec.move_id)
    assert header.v == 2
    assert header.subjects is msgspec.UNSET
    assert b'"subjects"' not in encode(header)
    fields = msgspec.structs.asdict(header)
    del fields["subjects"]
    fields["steps"] = [msgspec.structs.asdict(s) for s in header.steps]
    assert sha256(MOVE_PREFIX + encode(fields)).hexdigest() == digest
    assert Move.objects.get(pk=rec.move_id).subjects is None


def test_empty_subjects_are_none(seeded):
    assert ledger.read_header(record({}).move_id)[0].v == 2


def test_a_revert_records_the_subjects_of_the_move_it_undoes(seeded):
    move = record({"account": 7})
    revert = record(kind="revert", reverts=move.move_id, name="y")
    assert ledger.read_header(revert.move_id)[0].subjects == {"account": 7}
    own = record({"account": 8}, name="z")
    again = record({"other": 1}, kind="revert", reverts=own.move_id)
    assert ledger.read_header(again.move_id)[0].subjects == {"other": 1}


@pytest.mark.parametrize(
    ("subjects", "message"),
    [
        ([("account", 7)], r"subjects must be a mapping such as \{'account': 7\}, not list"),
        ({"": 1}, r"subject keys must be non-empty strings, not ''"),
        ({"a": {"b": 1}}, r"subject 'a' must be a string, an int, a bool, null or a list of"),
        ({"a": [[1]]}, r"subject 'a' must be a string"),
        ({"a": 1.5}, r"subject 'a' must be a string"),
        ({"a": "x" * 9000}, r"subjects take 9\d\d\d bytes encoded, more than 8192"),
    ],
)
def test_bad_subjects_are_refused_before_anything_is_written(seeded, subjects, message):
    with pytest.raises(ledger.LedgerError, match=message):
        record(subjects)
    assert listed() == []


def test_list_moves_filters_on_subjects(seeded):
    a = record({"account": 7, "items": [3, 4], "tag": "spring"})
    b = record({"account": 8, "items": [4], "tag": "07"}, name="y")
    c = record(name="z")
    assert listed() == [a.move_id, b.move_id, c.move_id]
    assert listed("--subject", "account=7") == [a.move_id]
    assert listed("--subject", "items=4") == [a.move_id, b.move_id]
    assert listed("--subject", "items=4", "--subject", "account=8") == [b.move_id]
    assert listed("--subject", "tag=spring") == [a.move_id]
    # Not JSON: matched as the text itself.
    assert listed("--subject", "tag=07") == [b.move_id]
    assert listed("--subject", "account=9") == []
    assert listed("--subject", "nobody=7") == []
    rows = msgspec.json.decode(run("list_moves", "--format", "json", "--subject", "account=7"))
    assert rows[0]["subjects"] == {"account": 7, "items": [3, 4], "tag": "spring"}


@pytest.mark.parametrize("text", ["account", "=7", " =7"])
def test_a_subject_that_is_not_key_value_is_refused(db, text):
    with pytest.raises(CommandError, match=r"--subject .* is not key=value: pass e\.g\."):
        run("list_moves", "--subject", text)


def test_the_subjects_filter_uses_the_gin_index(seeded):
    record({"account": 7})
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM ledger_move m WHERE m.subjects @> %s::jsonb",
            ['{"account": 7}'],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ledger_move_subjects" in plan


@pytest.fixture
def account_filter():
    def parse(text: str) -> int:
        if not text.isdecimal():
            raise ValueError(f"--account {text!r} is not an account number")
        return int(text)

    ledger.register_list_filter(
        "account", keys=("payer", "payee"), help="Moves about this account.", parse=parse
    )
    yield
    unregister_list_filter("account")


def test_a_registered_filter_matches_any_of_its_keys(seeded, account_filter):
    a = record({"payer": 7, "payee": 8})
    b = record({"payer": 8, "payee": 9}, name="y")
    record({"other": 8}, name="z")
    assert listed("--account", "8") == [a.move_id, b.move_id]
    assert listed("--account", "9") == [b.move_id]
    assert listed("--account", "8", "--subject", "payer=8") == [b.move_id]
    with pytest.raises(CommandError, match=r"--account 'x' is not an account number"):
        run("list_moves", "--account", "x")


def test_registering_a_filter_is_idempotent_and_names_are_checked(db, account_filter):
    registered = ledger.list_filters()
    account = next(f for f in registered if f.name == "account")
    ledger.register_list_filter(
        "account", keys=account.keys, help=account.help, parse=account.parse
    )
    with pytest.raises(ledger.LedgerError, match="another list filter is already registered"):
        ledger.register_list_filter("account", keys=("x",), help="")
    with pytest.raises(ledger.LedgerError, match="list filter name 'since' must be lowercase"):
        ledger.register_list_filter("since", keys=("x",), help="")
    with pytest.raises(ledger.LedgerError, match="list filter name 'Bad_Name' must be"):
        ledger.register_list_filter("Bad_Name", keys=("x",), help="")
    with pytest.raises(ledger.LedgerError, match="list filter 'ok' needs at least one subject"):
        ledger.register_list_filter("ok", keys=(), help="")


def test_a_move_with_subjects_exports_proves_and_verifies_offline(seeded, tmp_path):
    rec = record({"account": 7})
    path = tmp_path / "move.jsonl"
    with path.open("wb") as file:
        ledger.export_move(rec.move_id, file)
    assert b'"subjects":{"account":7}' in path.read_bytes()
    assert ledger.verify_file(path, expected_digest=rec.digest).ok
    path.write_bytes(path.read_bytes().replace(b'"account":7', b'"account":8'))
    assert not ledger.verify_file(path).ok
    built = ledger.build_proof(rec.move_id, "ledger_t_parent", "1")
    (tmp_path / "proof.json").write_bytes(ledger.encode_proof(built))
    proof = ledger.read_proof(tmp_path / "proof.json")
    assert proof.header.subjects == {"account": 7}
    assert ledger.verify_proof(proof, expected_digest=rec.digest).ok
