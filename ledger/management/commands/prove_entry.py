"""Write the RFC 6962 inclusion proof of one row's change in a sealed move.

python manage.py prove_entry --move 12 --table main.SourceImage --pk 4711 --output proof.json
python manage.py prove_entry --move 12 --table main_sourceimage --pk 4711 --entry 90211

A row changed several times in the move has several entries: the proof holds all of them,
or only the one ``--entry`` names (``row_history`` lists them). Without ``--output`` the
proof is written to stdout. A reviewer checks it offline with
``verify_ledger --proof proof.json --public-key ledger.pub``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from ledger.errors import LedgerError
from ledger.management.base import LedgerCommand
from ledger.proof import build_proof, encode_proof
from ledger.structs import InclusionProof
from ledger.web.rows import primary_key, resolve_table


class Command(LedgerCommand):
    help = "Write the inclusion proof of a row's change in a sealed move, checked offline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--move", type=int, required=True, help="The sealed move.")
        parser.add_argument(
            "--table", required=True, help="app_label.Model, or a table name, of the row."
        )
        parser.add_argument("--pk", required=True, help="The row's primary key.")
        parser.add_argument(
            "--entry",
            type=int,
            help="Prove only this entry of the row (by default, every change of it in the move).",
        )
        parser.add_argument("--output", help="File to write (default: stdout).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            table = resolve_table(options["table"])
            pk = primary_key(table, options["pk"], options["table"])
            proof = build_proof(options["move"], table, pk, entry_id=options["entry"])
        except LedgerError as exc:
            raise CommandError(str(exc)) from exc
        if not options["output"]:
            self.stdout.write(encode_proof(proof).decode(), ending="")
            return
        output = Path(options["output"])
        try:
            output.write_bytes(encode_proof(proof))
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}; check the path") from exc
        if options["verbosity"]:
            self._summary(proof, output)

    def _summary(self, proof: InclusionProof, output: Path) -> None:
        header = proof.header
        for item in proof.entries:
            e = item.entry
            self.stdout.write(
                f"move {header.id}: entry {e.id} ({e.op} {e.table} row {e.pk}) is leaf "
                f"{item.leaf_index} of {header.entry_count}, audit path of "
                f"{len(item.audit_path)} hashes"
            )
        signed = f"signed by {header.signer}" if header.signer else "unsigned"
        self.stdout.write(f"digest {proof.digest} ({signed})")
        # An unsigned move can only be tied to its seal by a digest kept outside the database.
        anchor = "--public-key <the ledger's public key>" if header.signer else "--digest <kept>"
        self.stdout.write(
            f"written to {output}; check it offline with: manage.py verify_ledger --proof "
            f"{output} {anchor}"
        )
