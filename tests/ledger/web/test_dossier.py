"""show_move --format markdown|html: one self-contained dossier of a move and its revert."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

import ledger
from ledger.signing import generate


def run(*args: str) -> str:
    out = StringIO()
    call_command("show_move", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_markdown_dossier_holds_both_moves_steps_counts_diffs_and_verification(reviewed):
    move, revert = reviewed
    text = run(str(move.move_id), "--format", "markdown")
    assert text.startswith(
        f"# Ledger dossier: Move {move.move_id} and its revert {revert.move_id}"
    )
    assert f"## Move {move.move_id}\n" in text
    assert f"## Revert {revert.move_id}\n" in text
    assert "| reason (why) | TICKET-12: stations filed under the wrong project |" in text
    assert "| operator (who) | 42 |" in text
    assert re.search(r"\| committed \(sealed\) \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \|", text)
    assert f"| reverted by | move {revert.move_id} |" in text
    assert f"| reverts | move {move.move_id} |" in text
    assert "| deployment_ids | [4,5] |" in text
    assert "| 1 | [move-children] | update | 7 | 7 |" in text
    assert "| ledger_t_child | 0 | 7 | 0 | 7 |" in text
    assert "| ledger_t_note | 1 | 0 | 1 | 2 |" in text
    assert "- U ledger_t_parent: 1 row(s)" in text
    assert "#### update ledger_t_child — [move-children] — 4 row(s):" in text
    assert "| column | before | after |" in text
    assert "| name | p1 | stray |" in text
    assert "| body | — | fresh |" in text  # an insert has no before
    assert f"| digest | {move.digest} |" in text
    assert "| chain link | first move of the ledger |" in text
    assert f"| chain link | links to the digest of move {move.move_id} |" in text
    assert "| recomputed | intact: 10 entries, the Merkle root, the digest and the chain" in text
    assert "| signature | unsigned (sealed with no signing key configured) |" in text
    # The revert's own page reads the same two moves, the original first.
    assert run(str(revert.move_id), "--format", "markdown").startswith(
        f"# Ledger dossier: Move {move.move_id} and its revert {revert.move_id}"
    )


def test_html_dossier_is_one_file_with_no_outside_links(reviewed, tmp_path):
    move, revert = reviewed
    path = tmp_path / "dossier.html"
    assert run(str(move.move_id), "--format", "html", "--output", str(path)) == (f"wrote {path}\n")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert not re.search(r"<(link|script|img)\b", page)
    assert not re.search(r'(href|src)="(?!#)', page)
    assert f'<h2 id="move-{revert.move_id}">Revert {revert.move_id}</h2>' in page
    assert f'<a href="#move-{revert.move_id}">move {revert.move_id}</a>' in page
    assert "<code>[move-children]</code>" in page
    assert '<th scope="row">parent_id</th>' in page
    assert "TICKET-12: stations filed under the wrong project" in page
    assert move.digest in page


def test_dossier_checks_signatures_with_the_given_key(tables, settings, tmp_path):
    generate(tmp_path / "signing.pem", tmp_path / "signing.pub")
    generate(tmp_path / "other.pem", tmp_path / "other.pub")
    settings.LEDGER_SIGNING_KEY_FILE = str(tmp_path / "signing.pem")
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="signed", operator="7") as rec,
        connection.cursor() as cursor,
    ):
        cursor.execute("INSERT INTO ledger_t_parent (name) VALUES ('x')")
    move = str(rec.move_id)
    text = run(move, "--format", "markdown", "--public-key", str(tmp_path / "signing.pub"))
    assert "verifies with the given public key |" in text
    text = run(move, "--format", "markdown")
    assert "not checked (pass --public-key)" in text
    text = run(move, "--format", "markdown", "--public-key", str(tmp_path / "other.pub"))
    assert "| signature | DOES NOT VERIFY: signer ed25519:" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "markdown"), "move 77 does not exist"),
        (("--public-key", "/nonexistent.pub"), r"cannot read /nonexistent\.pub"),
    ],
)
def test_dossier_user_errors(db, args, message):
    with pytest.raises(CommandError, match=message):
        run("77", *args)


def test_dossier_names_an_unwritable_output(reviewed):
    move, _ = reviewed
    with pytest.raises(CommandError, match=r"cannot write /nonexistent/d\.md .*check the path"):
        run(str(move.move_id), "--format", "markdown", "--output", "/nonexistent/d.md")
