"""Create the keys the ledger uses outside the database.

python manage.py ledger_keygen --signing keys/signing.pem       # and keys/signing.pub
python manage.py ledger_keygen --fingerprint keys/fingerprint.key

Neither key ever goes into the database. Point ``LEDGER_SIGNING_KEY_FILE`` at the private key
on the machines that run moves and give the ``.pub`` file to reviewers (``verify_ledger
--public-key``); point ``LEDGER_FINGERPRINT_KEY_FILE`` at the fingerprint key wherever moves
and reverts run. Existing files are never overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ledger import fingerprints
from ledger.errors import LedgerError
from ledger.signing import generate


class Command(BaseCommand):
    help = "Create the signing key pair or the fingerprint key (never overwrites)."
    requires_system_checks: list[str] = []  # noqa: RUF012 - Django's own attribute

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--signing", help="Path of the Ed25519 private key; the public key gets .pub"
        )
        parser.add_argument("--fingerprint", help="Path of the HMAC key for secret columns")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["signing"] or options["fingerprint"]):
            raise CommandError("pass --signing PATH, --fingerprint PATH, or both")
        try:
            if options["signing"]:
                private = Path(options["signing"])
                public = private.with_suffix(".pub")
                fingerprint = generate(private, public)
                self.stdout.write(f"private key: {private} (keep it off the database server)")
                self.stdout.write(f"public key:  {public} (give it to reviewers)")
                self.stdout.write(f"fingerprint: {fingerprint}")
            if options["fingerprint"]:
                path = Path(options["fingerprint"])
                self.stdout.write(f"fingerprint key: {path} ({fingerprints.generate(path)})")
        except (LedgerError, OSError) as exc:
            raise CommandError(str(exc)) from exc
