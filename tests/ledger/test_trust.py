"""What holds against someone who can write the database but holds no key: signed seals and
checkpoints outside the database catch a full rewrite, a deleted tail and a forged append."""

from __future__ import annotations

from io import StringIO

import msgspec
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

import ledger
from ledger import checkpoint, signing
from ledger.digest import GroupDigest, MerkleBuilder, move_digest
from ledger.queries import iter_groups, read_headers
from tests.ledger.builders import record, superuser_bypass


@pytest.fixture
def chain(seeded, signed):
    moves = [
        record("UPDATE ledger_t_child SET name = 'a' || id"),
        record("UPDATE ledger_t_parent SET name = 'b'"),
        record("INSERT INTO ledger_t_parent (name) VALUES ('c')"),
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the seal's FK checks, as at commit
    return moves


def _heads(moves) -> list[checkpoint.CheckpointLine]:
    """What the checkpoint file holds after these moves committed."""
    return [
        checkpoint.CheckpointLine(
            move_id=m.move_id,
            digest=m.digest,
            signature=m.signature,
            signer=m.signer,
            committed_at="-",
        )
        for m in moves
    ]


def _rewrite_chain() -> None:
    """Recompute every group hash, root, link and digest, as an attacker with the code would."""
    previous = None
    with superuser_bypass(), connection.cursor() as cursor:
        for header, _digest in list(read_headers()):
            builder = MerkleBuilder()
            for group in iter_groups(header.id):
                digest = GroupDigest(
                    builder,
                    first_id=group.id,
                    move_id=header.id,
                    step_id=group.step_id,
                    table=group.table,
                    op=group.op,
                    before=group.before,
                    after=group.after,
                )
                digest.add(group.pks)
                cursor.execute(
                    "UPDATE ledger_change SET hash = %s WHERE id = %s",
                    [digest.hexdigest(), group.id],
                )
            header = msgspec.structs.replace(
                header, entries_root=builder.root(), prev_digest=previous
            )
            previous = move_digest(header)
            cursor.execute(
                "UPDATE ledger_move SET entries_root = %s, prev_digest = %s, digest = %s "
                "WHERE id = %s",
                [header.entries_root, header.prev_digest, previous, header.id],
            )


def test_moves_are_signed_with_the_configured_key(chain, signed):
    for move in chain:
        assert move.signer == signing.fingerprint(signed)
        assert signing.verify_signature(signed, move.digest, move.signature)
    report = ledger.verify(public_key=signed)
    assert report.ok
    assert report.checked[-1] == f"signatures, with key {signing.fingerprint(signed)}"


def test_a_full_rewrite_verifies_without_the_key_but_not_with_it(chain, signed):
    first = chain[0]
    with superuser_bypass(), connection.cursor() as cursor:
        cursor.execute(
            'UPDATE ledger_change SET after = \'{"name": "forged"}\' WHERE id = '
            "(SELECT min(id) FROM ledger_change WHERE move_id = %s)",
            [first.move_id],
        )
        cursor.execute("UPDATE ledger_move SET reason = 'rewritten' WHERE id = %s", [2])
    _rewrite_chain()
    plain = ledger.verify()
    assert plain.ok  # every hash and link recomputed: the database alone cannot tell
    assert any(item.startswith("signatures (pass --public-key)") for item in plain.not_checked)
    report = ledger.verify(public_key=signed)
    assert not report.ok
    assert report.failures[0].move_id == first.move_id
    assert "signature does not verify with the given key" in report.failures[0].reason
    against_checkpoint = ledger.verify(checkpoint=_heads(chain))
    assert "was checkpointed with" in against_checkpoint.failures[0].reason


def test_a_deleted_newest_move_is_caught_by_the_checkpoint(chain):
    third = chain[2]
    with superuser_bypass(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM ledger_change WHERE move_id = %s", [third.move_id])
        cursor.execute("DELETE FROM ledger_step WHERE move_id = %s", [third.move_id])
        cursor.execute("DELETE FROM ledger_move WHERE id = %s", [third.move_id])
    assert ledger.verify().ok
    report = ledger.verify(checkpoint=_heads(chain))
    assert not report.ok
    assert report.failures[0].reason.startswith(
        f"move {third.move_id} was checkpointed but is not in the ledger"
    )


def test_a_forged_appended_move_is_caught_by_its_signature(chain, signed, settings):
    settings.LEDGER_SIGNING_KEY_FILE = None  # the forger has the database, not the key
    forged = record("UPDATE ledger_t_parent SET name = 'TICKET-99 requested by the PI'")
    assert forged.signer is None
    assert ledger.verify().ok
    report = ledger.verify(public_key=signed, checkpoint=_heads(chain))
    assert [f.reason for f in report.failures] == [
        f"move {forged.move_id} is not signed (sealed with no signing key configured)"
    ]


def test_a_move_signed_with_another_key_is_named(chain, keys, settings):
    settings.LEDGER_SIGNING_KEY_FILE = str(keys / "other.pem")
    other = record("UPDATE ledger_t_parent SET name = 'other key'")
    report = ledger.verify(public_key=signing.load_public_key(keys / "ledger.pub"))
    assert report.failures[0].move_id == other.move_id
    assert "names signer ed25519:" in report.failures[0].reason


def test_without_a_key_a_move_still_works_and_says_it_is_unsigned(seeded, settings):
    settings.LEDGER_SIGNING_KEY_FILE = None
    settings.LEDGER_SIGNING_KEY_ENV = None
    move = record("UPDATE ledger_t_parent SET name = 'x'")
    assert (move.signer, move.signature) == (None, None)
    report = ledger.verify()
    assert report.ok
    assert report.not_checked[0].startswith("signatures (pass --public-key)")
    assert report.not_checked[1].startswith("a checkpoint (pass --checkpoint)")


def test_verify_ledger_checks_the_digest_of_one_move_in_the_database(chain):
    second = chain[1]
    out = StringIO()
    call_command("verify_ledger", "--move", str(second.move_id), "--digest", second.digest,
                 stdout=out)  # fmt: skip
    assert f"digest of move {second.move_id}: {second.digest}" in out.getvalue()
    with pytest.raises(CommandError, match=rf"move {second.move_id} has digest {second.digest}, "
                       r"not the digest kept outside the database \(beef\)"):  # fmt: skip
        call_command(
            "verify_ledger", "--move", str(second.move_id), "--digest", "beef", stdout=StringIO()
        )


def test_verify_ledger_with_key_and_checkpoint_says_what_it_checked(chain, keys, tmp_path):
    path = tmp_path / "heads.jsonl"
    for line in _heads(chain):
        checkpoint.append(path, line)
    out = StringIO()
    call_command(
        "verify_ledger",
        "--public-key",
        str(keys / "ledger.pub"),
        "--checkpoint",
        str(path),
        stdout=out,
    )
    text = out.getvalue()
    assert "checked: signatures, with key ed25519:" in text
    assert "checked: the checkpoint (3 head(s), the last at move 3)" in text
    assert "not checked" not in text
    assert f"digest of the last move: {chain[2].digest}" in text


def _record_then_fail() -> None:
    with transaction.atomic():
        record("UPDATE ledger_t_parent SET name = 'rolled back'")
        raise ZeroDivisionError


@pytest.mark.django_db(transaction=True)
def test_the_checkpoint_gets_each_head_after_commit_and_nothing_of_a_rollback(
    committed_tables, signed, settings
):
    from tests.ledger import builders

    builders.seed()
    move = record("UPDATE ledger_t_parent SET name = 'kept'")
    with pytest.raises(ZeroDivisionError):
        _record_then_fail()
    [line] = checkpoint.read(settings.LEDGER_CHECKPOINT_FILE)
    assert (line.move_id, line.digest, line.signature) == (
        move.move_id,
        move.digest,
        move.signature,
    )
    assert signing.verify_signature(signed, line.digest, line.signature)


def test_secrets_are_fingerprinted_with_a_key_a_guess_cannot_confirm(seeded):
    import hashlib

    move = record("UPDATE ledger_t_child SET secret = 'AKIA-GUESSABLE' WHERE id = 1")
    (entry,) = ledger.entries(move.move_id)
    recorded = entry.after["secret"]
    assert recorded.startswith("hmac-sha256:")
    assert hashlib.sha256(b"AKIA-GUESSABLE").hexdigest() not in recorded
    header, _ = ledger.read_header(move.move_id)
    assert header.tables["ledger_t_child"]["fingerprint"].startswith("hmac-sha256:")


def test_secrets_are_not_recorded_without_a_fingerprint_key(seeded, settings):
    settings.LEDGER_FINGERPRINT_KEY_ENV = None
    with pytest.raises(ledger.LedgerError, match="no fingerprint key is configured: create one"):
        record("UPDATE ledger_t_parent SET name = 'x'")


def test_a_revert_under_another_fingerprint_key_names_both_keys(seeded, monkeypatch):
    move = record("DELETE FROM ledger_t_child WHERE id = 10")
    monkeypatch.setenv("AMI_TEST_FINGERPRINT_KEY", "a7" * 32)
    report = ledger.revert(move.move_id, execute=False)
    [secret] = [c for c in report.plan.conflicts if c.kind == "fingerprint-key"]
    assert not report.ok
    assert secret.message.startswith(
        "the secrets of ledger_t_child were fingerprinted with key hmac-sha256:"
    )
