"""Recompute every digest and chain link; exit 1 naming the first record that does not match.

python manage.py verify_ledger                                   # the whole chain
python manage.py verify_ledger --public-key ledger.pub --checkpoint checkpoint.jsonl
python manage.py verify_ledger --move 12 --digest <hex>          # one move, as you kept it
python manage.py verify_ledger --file move-12.jsonl --public-key ledger.pub   # offline
python manage.py verify_ledger --file moves-10-14.jsonl --prev-digest <digest of move 9>
python manage.py verify_ledger --proof proof.json --public-key ledger.pub     # one change

It always says what it did not check: without a public key, a rewrite by someone able to
write the database would verify; without a checkpoint, so would deleting the newest moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from django.core.management.base import CommandError, CommandParser

from ledger import checkpoint
from ledger.errors import ExportFormatError, LedgerError
from ledger.export import verify_file
from ledger.management.base import LedgerCommand
from ledger.proof import read_proof, verify_proof
from ledger.signing import load_public_key
from ledger.structs import VerifyReport
from ledger.verify import failure_message, verify

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def _check_flags(options: dict[str, Any]) -> None:
    """One CommandError per combination of flags that cannot go together."""
    offline = options["file"] or options["proof"]
    if options["digest"] and not (offline or options["move"] is not None):
        raise CommandError(
            "--digest goes with --move N or --file F or --proof P: name the move it is of"
        )
    if options["file"] and options["move"] is not None:
        raise CommandError("pass either --file (offline) or --move (database), not both")
    if options["proof"] and (options["file"] or options["move"] is not None):
        raise CommandError("--proof is checked on its own, offline: drop --file and --move")
    if offline and options["checkpoint"]:
        raise CommandError("--checkpoint checks the database: drop --file, or the checkpoint")
    if options["prev_digest"] and not options["file"]:
        raise CommandError(
            "--prev-digest is the digest of the move before a file's first move: "
            "it goes with --file F"
        )


class Command(LedgerCommand):
    help = (
        "Verify the ledger's digests, chain links, signatures and checkpoint, an export, or "
        "an inclusion proof."
    )
    # Offline verification must run with the database unreachable: no checks touch it.
    requires_system_checks = []  # noqa: RUF012 - as BaseCommand declares it

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--move", type=int, help="Verify only this move (and its link).")
        parser.add_argument(
            "--file", help="Verify an export_ledger file (one move or a range), with no database."
        )
        parser.add_argument(
            "--proof", help="Verify a prove_entry inclusion proof, with no database."
        )
        parser.add_argument(
            "--digest",
            help="The digest you kept for the move (with --move, --proof, or --file: of its "
            "last move).",
        )
        parser.add_argument(
            "--prev-digest",
            help="With --file: the digest of the move before the file's first move.",
        )
        parser.add_argument(
            "--public-key", help="PEM public key: check every move's signature with it."
        )
        parser.add_argument(
            "--checkpoint", help="Checkpoint file: every head in it must still be in the ledger."
        )
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        _check_flags(options)
        try:
            key = load_public_key(options["public_key"]) if options["public_key"] else None
            report, which = self._verify(options, key)
        except (ExportFormatError, LedgerError) as exc:
            raise CommandError(str(exc)) from exc
        self._render(report, options, which)
        if not report.ok:
            # Every failure, once: the first move's first (what callers match), then the rest.
            raise CommandError("\n".join(failure_message(f) for f in report.failures))

    def _verify(
        self, options: dict[str, Any], key: Ed25519PublicKey | None
    ) -> tuple[VerifyReport, str]:
        """The report, and which move its digest is of."""
        if options["proof"]:
            proof = read_proof(options["proof"])
            report = verify_proof(proof, expected_digest=options["digest"], public_key=key)
            return report, f"move {proof.header.id}"
        if options["file"]:
            report = verify_file(
                options["file"],
                expected_digest=options["digest"],
                public_key=key,
                prev_digest=options["prev_digest"],
            )
            return report, "the last move"
        lines = checkpoint.read(options["checkpoint"]) if options["checkpoint"] else None
        report = verify(
            options["move"], public_key=key, checkpoint=lines, expected_digest=options["digest"]
        )
        which = f"move {options['move']}" if options["move"] is not None else "the last move"
        return report, which

    def _render(self, report: VerifyReport, options: dict[str, Any], which: str) -> None:
        if options["format"] == "json":
            self.stdout.write(msgspec.json.encode(report).decode())
            return
        if options["verbosity"] == 0:
            return
        # "checked" only where it all held: on a failure (said next, as the error) these were
        # examined, and one of them did not hold.
        label = "checked" if report.ok else "examined"
        for item in report.checked:
            self.stdout.write(f"{label}: {item}")
        for item in report.not_checked:
            self.stdout.write(self.style.WARNING(f"not checked: {item}"))
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"OK: {report.moves_checked} move(s), {report.entries_checked} entries; "
                    f"digest of {which}: {report.last_digest}"
                )
            )
