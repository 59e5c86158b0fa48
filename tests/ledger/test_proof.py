"""Inclusion proofs: one row change proven in a sealed move, checked offline, forgeries refused."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from hashlib import sha256
from io import StringIO
from pathlib import Path

import msgspec
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from msgspec.structs import replace

import ledger
from ledger import digest, signing
from ledger.digest import NODE_PREFIX, entry_bytes, leaf_hash, move_digest, root_from_path
from ledger.proof import build_proof, encode_proof, read_proof, verify_proof
from tests.ledger.builders import superuser_bypass

# Every test runs on groups read whole and on groups read a window at a time.
pytestmark = pytest.mark.usefixtures("key_windows")

ROOT = Path(__file__).resolve().parents[2]


def _first_child() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id)::text FROM ledger_t_child")
        return cursor.fetchone()[0]


@pytest.fixture
def move(seeded, signed):
    """A signed move of 11 entries; the first child changes twice (two steps)."""
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        connection.cursor() as cursor,
    ):
        with rec.step("[rename]", expected_rows=10, action="update"):
            cursor.execute("UPDATE ledger_t_child SET name = 'n' || id")
        with rec.step("[score]", expected_rows=1, action="update"):
            cursor.execute(
                "UPDATE ledger_t_child SET score = 1.10 WHERE id = %s", [int(_first_child())]
            )
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the seal's FK checks, as at commit
    return rec


def test_a_row_changed_twice_is_proven_twice_and_verifies(move, signed):
    pk = _first_child()
    proof = build_proof(move.move_id, "ledger_t_child", pk)
    assert [e.entry.pk for e in proof.entries] == [pk, pk]
    assert [e.entry.after for e in proof.entries] == [
        {"name": f"n{pk}"},
        {"score": Decimal("1.10")},
    ]
    first = proof.header.first_entry_id
    assert [e.leaf_index for e in proof.entries] == [0, 10]
    assert [e.entry.id - first for e in proof.entries] == [0, 10]
    assert proof.digest == move.digest
    assert proof.signature == move.signature
    report = verify_proof(proof, expected_digest=move.digest, public_key=signed)
    assert report.ok, report.failures
    assert report.entries_checked == 2
    assert report.checked[0] == (
        f"entry {first} (U ledger_t_child row {pk}) is leaf 0 of the 11 under move "
        f"{move.move_id}'s entries_root (an audit path of 4 hashes)"
    )
    assert report.checked[-1].startswith("the signature, with key ed25519:")
    assert any("place in the chain" in item for item in report.not_checked)
    assert any("not what it leaves out" in item for item in report.not_checked)


def test_a_row_deep_in_a_large_group_is_proven_from_its_leaves_in_parts(seeded, monkeypatch):
    # One group of ten keys (one before and after for all), its leaves built three at a time:
    # the proof of the last row must place every part at its own leaf index.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_t_child SET name = 'before'")
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_t_child SET name = 'same'")
        cursor.execute("SELECT max(id)::text FROM ledger_t_child")
        last = cursor.fetchone()[0]
    monkeypatch.setattr(digest, "_LEAVES_AT_ONCE", 3)
    assert rec.entry_count == 10
    proof = build_proof(rec.move_id, "ledger_t_child", last)
    assert [e.leaf_index for e in proof.entries] == [9]
    report = verify_proof(proof, expected_digest=rec.digest)
    assert report.ok, report.failures


def test_entry_narrows_the_proof_to_one_change(move):
    pk = _first_child()
    second = build_proof(move.move_id, "ledger_t_child", pk).entries[1].entry.id
    proof = build_proof(move.move_id, "ledger_t_child", pk, entry_id=second)
    assert [e.entry.id for e in proof.entries] == [second]
    assert verify_proof(proof).ok


def test_a_proof_survives_its_file_with_every_digit(move, tmp_path):
    path = tmp_path / "proof.json"
    path.write_bytes(encode_proof(build_proof(move.move_id, "ledger_t_child", _first_child())))
    assert b'"score": 1.10' in path.read_bytes()
    proof = read_proof(path)
    assert proof.entries[1].entry.after == {"score": Decimal("1.10")}
    assert verify_proof(proof).ok


def _entry(proof, change, at: int = 0):
    items = list(proof.entries)
    items[at] = change(items[at])
    return replace(proof, entries=items)


def _flip(path: list[str]) -> list[str]:
    return [format(int(path[0][0], 16) ^ 1, "x") + path[0][1:], *path[1:]]


def _moved(item):
    """The entry claimed at the next leaf, its id renumbered to match."""
    entry = replace(item.entry, id=item.entry.id + 1)
    return replace(item, entry=entry, leaf_index=item.leaf_index + 1)


@pytest.mark.parametrize(
    ("forge", "message"),
    [
        (
            lambda p: _entry(p, lambda e: replace(e, entry=replace(e.entry, after={"name": "x"}))),
            "does not lead to move .*'s entries_root through its audit path",
        ),
        (
            lambda p: _entry(p, lambda e: replace(e, entry=replace(e.entry, pk="999999"))),
            r"entry \d+ \(U ledger_t_child row 999999\) does not lead to move",
        ),
        (
            lambda p: _entry(p, lambda e: replace(e, audit_path=_flip(e.audit_path))),
            "does not lead to move .*'s entries_root",
        ),
        (
            lambda p: _entry(p, lambda e: replace(e, leaf_index=e.leaf_index + 1)),
            r"is not leaf 1 of move \d+, whose entries start at entry \d+",
        ),
        (
            lambda p: _entry(p, _moved),
            r"entry \d+ \(U ledger_t_child row \d+\) does not lead to move",
        ),
        (
            lambda p: _entry(p, lambda e: replace(e, audit_path=["zz", *e.audit_path[1:]])),
            "audit path holds something else than 32-byte hex hashes",
        ),
        (
            lambda p: replace(p, header=replace(p.header, operator="someone-else")),
            "the header does not match the digest in the proof",
        ),
        (lambda p: replace(p, entries=[]), "the proof holds no entry"),
    ],
    ids=["value", "pk", "path", "index", "index-and-id", "not-hex", "header", "empty"],
)
def test_a_forged_proof_is_refused(move, forge, message, tmp_path):
    proof = build_proof(move.move_id, "ledger_t_child", _first_child())
    assert verify_proof(proof).ok
    path = tmp_path / "forged.json"
    path.write_bytes(encode_proof(forge(proof)))
    with pytest.raises(CommandError, match=rf"failed at move {move.move_id}.*: .*{message}"):
        run("verify_ledger", "--proof", str(path))


def _resealed_forgery(proof):
    """An edited entry whose root and digest were recomputed from its own path: a forger with
    the proof alone can make it consistent in itself, but not sign it."""
    item = proof.entries[0]
    entry = replace(item.entry, after={"name": "forged"})
    nodes = [bytes.fromhex(node) for node in item.audit_path]
    root = root_from_path(leaf_hash(entry_bytes(entry)), 0, proof.header.entry_count, nodes)
    header = replace(proof.header, entries_root=root.hex())
    return replace(
        proof,
        header=header,
        digest=move_digest(header),
        entries=[replace(item, entry=entry)],
    )


def test_a_forgery_consistent_in_itself_is_refused_by_the_key_or_the_kept_digest(
    move, keys, tmp_path
):
    forged = _resealed_forgery(build_proof(move.move_id, "ledger_t_child", _first_child()))
    path = tmp_path / "forged.json"
    path.write_bytes(encode_proof(forged))
    plain = run("verify_ledger", "--proof", str(path))
    assert "OK" in plain  # nothing inside the proof can tell
    assert f"not checked: that move {move.move_id} is the move that was sealed" in plain
    with pytest.raises(CommandError, match="signature does not verify with the given key"):
        run("verify_ledger", "--proof", str(path), "--public-key", str(keys / "ledger.pub"))
    kept = rf"move {move.move_id} has digest {forged.digest}, not the digest kept outside"
    with pytest.raises(CommandError, match=rf"{kept} the database \({move.digest}\)"):
        run("verify_ledger", "--proof", str(path), "--digest", move.digest)


def test_a_signature_from_another_key_is_refused(move, keys, signed):
    proof = build_proof(move.move_id, "ledger_t_child", _first_child())
    other = signing.Signer(
        key=signing._private_key((keys / "other.pem").read_bytes(), "other"),
        fingerprint="",
    )
    resigned = replace(proof, signature=other.sign(proof.digest))
    reason = verify_proof(resigned, public_key=signed).failures[0].reason
    assert "signature does not verify with the given key" in reason
    other_key = signing.load_public_key(keys / "other.pub")
    header = replace(proof.header, signer=signing.fingerprint(other_key))
    claimed = replace(resigned, header=header, digest=move_digest(header), signature=None)
    claimed = replace(claimed, signature=other.sign(claimed.digest))
    assert verify_proof(claimed, public_key=other_key).ok  # the other key's own forgery
    reason = verify_proof(claimed, public_key=signed).failures[0].reason
    assert reason.startswith(f"move {move.move_id} names signer ed25519:")
    assert reason.endswith(f"not the given key {signing.fingerprint(signed)}")


def test_no_proof_is_made_from_a_tampered_move(move):
    with superuser_bypass(), connection.cursor() as cursor:
        cursor.execute(
            'UPDATE ledger_change SET after = \'{"name": "forged"}\' WHERE move_id = %s '
            "AND step_id = (SELECT min(id) FROM ledger_step WHERE move_id = %s)",
            [move.move_id, move.move_id],
        )
    seal = r"seal \(entry \d+ does not lead to its Merkle root\)"
    with pytest.raises(
        ledger.TamperDetected,
        match=rf"move {move.move_id} does not match its {seal}.*verify_ledger",
    ):
        build_proof(move.move_id, "ledger_t_child", _first_child())


def test_a_tampered_header_alone_makes_no_proof(move):
    with superuser_bypass(), connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_move SET reason = 'x' WHERE id = %s", [move.move_id])
    with pytest.raises(ledger.TamperDetected, match="its header does not match its digest"):
        build_proof(move.move_id, "ledger_t_child", _first_child())


def test_wrong_rows_and_entries_are_named(move):
    with pytest.raises(ledger.LedgerError, match=rf"move {move.move_id} holds no change of "
                       "ledger_t_parent row 1: run row_history"):  # fmt: skip
        build_proof(move.move_id, "ledger_t_parent", "1")
    with pytest.raises(ledger.LedgerError, match=r"entry 999999 is not a change of ledger_t_child "
                       r"row \d+ in move \d+: pass --entry with one of \d+, \d+"):  # fmt: skip
        build_proof(move.move_id, "ledger_t_child", _first_child(), entry_id=999999)
    with pytest.raises(ledger.MoveNotFound, match="move 999 does not exist"):
        build_proof(999, "ledger_t_child", _first_child())


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_prove_entry_then_verify_ledger_proof(move, keys, tmp_path):
    pk, path = _first_child(), tmp_path / "proof.json"
    text = run("prove_entry", "--move", str(move.move_id), "--table", "ledger_t_child",
               "--pk", pk, "--output", str(path))  # fmt: skip
    assert "is leaf 0 of 11, audit path of 4 hashes" in text
    assert "is leaf 10 of 11, audit path of 2 hashes" in text
    assert f"digest {move.digest} (signed by ed25519:" in text
    assert text.endswith(f"--proof {path} --public-key <the ledger's public key>\n")
    out = run("verify_ledger", "--proof", str(path), "--public-key", str(keys / "ledger.pub"))
    assert f"OK: 1 move(s), 2 entries; digest of move {move.move_id}: {move.digest}" in out
    assert "not checked: that move" not in out
    assert f"not checked: move {move.move_id}'s place in the chain" in out
    stdout = run("prove_entry", "--move", str(move.move_id), "--table", "ledger_t_child",
                 "--pk", pk, "--entry", str(read_proof(path).entries[1].entry.id))  # fmt: skip
    assert len(msgspec.json.decode(stdout)["entries"]) == 1
    forged = msgspec.json.decode(path.read_bytes())
    forged["entries"][0]["entry"]["pk"] = "4711"
    path.write_bytes(msgspec.json.encode(forged))
    with pytest.raises(CommandError, match=rf"failed at move {move.move_id}, entry \d+: entry "
                       r"\d+ \(U ledger_t_child row 4711\) does not lead"):  # fmt: skip
        run("verify_ledger", "--proof", str(path))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--table", "nowhere", "--pk", "PK"), "unknown table 'nowhere'"),
        (("--table", "ledger_t_parent", "--pk", "1"), "holds no change of ledger_t_parent row 1"),
        (("--table", "ledger_t_child", "--pk", "PK", "--entry", "99"), "entry 99 is not a change"),
        (
            ("--table", "ledger_t_child", "--pk", "PK", "--output", "/nonexistent/p.json"),
            r"cannot write /nonexistent/p\.json",
        ),
    ],
)
def test_prove_entry_user_errors(move, args, message):
    args = [_first_child() if arg == "PK" else arg for arg in args]
    with pytest.raises(CommandError, match=message):
        run("prove_entry", "--move", str(move.move_id), *args)


def test_prove_entry_names_a_missing_move(seeded):
    with pytest.raises(CommandError, match="move 999 does not exist"):
        run("prove_entry", "--move", "999", "--table", "ledger_t_child", "--pk", "1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--proof", "p.json", "--move", "1"), "--proof is checked on its own"),
        (("--proof", "p.json", "--checkpoint", "c"), "--checkpoint checks the database"),
        (("--prev-digest", "ab"), "--prev-digest is the digest of the move before"),
        (("--proof", "/nonexistent/p.json"), r"cannot read /nonexistent/p\.json"),
    ],
)
def test_verify_ledger_proof_flag_errors(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("verify_ledger", *args)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "is not an inclusion proof .*: make one with prove_entry"),
        (b'{"type":"header","id":1}\n{"type":"seal"}\n', "is not an inclusion proof"),
        (
            b'{"type":"inclusion-proof","v":9}',
            "is a version 9 proof; this verifier reads version 1",
        ),
    ],
)
def test_unreadable_proofs_are_named(tmp_path, content, message):
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(ledger.ExportFormatError, match=message):
        read_proof(path)


def test_a_proof_is_checked_with_no_database(move, keys, tmp_path):
    path = tmp_path / "proof.json"
    path.write_bytes(encode_proof(build_proof(move.move_id, "ledger_t_child", _first_child())))
    env = dict(os.environ, DATABASE_URL="postgres://nobody@127.0.0.1:1/unreachable")
    env["DJANGO_SETTINGS_MODULE"] = "ami.settings.base"
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_ledger", "--proof", str(path), "--public-key",
         str(keys / "ledger.pub"), "--digest", move.digest],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"OK: 1 move(s), 2 entries; digest of move {move.move_id}" in result.stdout


def test_the_proof_format_is_rfc_6962(move):
    """An independent check with nothing but sha256: leaf, then siblings, to the root."""
    item = build_proof(move.move_id, "ledger_t_child", _first_child()).entries[1]
    node = sha256(b"\x00" + entry_bytes(item.entry)).digest()
    index, last = item.leaf_index, 10
    for sibling in map(bytes.fromhex, item.audit_path):
        if index % 2 or index == last:
            node = sha256(NODE_PREFIX + sibling + node).digest()
            while index % 2 == 0 and index:
                index, last = index // 2, last // 2
        else:
            node = sha256(NODE_PREFIX + node + sibling).digest()
        index, last = index // 2, last // 2
    assert node.hex() == ledger.read_header(move.move_id)[0].entries_root


def test_an_unsigned_move_is_proven_and_said_to_be_unsigned(seeded, settings, tmp_path):
    settings.LEDGER_SIGNING_KEY_FILE = None
    settings.LEDGER_SIGNING_KEY_ENV = None
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_t_parent SET name = 'x'")
    path = tmp_path / "proof.json"
    text = run("prove_entry", "--move", str(rec.move_id), "--table", "ledger_t_parent",
               "--pk", _first_parent(), "--output", str(path))  # fmt: skip
    assert f"digest {rec.digest} (unsigned)" in text
    assert text.endswith(f"--proof {path} --digest <kept>\n")
    assert "OK: 1 move(s), 1 entries" in run(
        "verify_ledger", "--proof", str(path), "--digest", rec.digest
    )


def _first_parent() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id)::text FROM ledger_t_parent")
        return cursor.fetchone()[0]
