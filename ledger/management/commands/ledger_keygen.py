"""Create the keys the ledger uses outside the database.

python manage.py ledger_keygen --signing keys/ledger-signing.pem   # + keys/ledger-signing.pub

The private key never goes into the database: point ``LEDGER_SIGNING_KEY_FILE`` at it on the
machines that run moves, and give the ``.pub`` file to reviewers (``verify_ledger
--public-key``). Existing files are never overwritten.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ledger.errors import LedgerError
from ledger.signing import generate


class Command(BaseCommand):
    help = "Create an Ed25519 signing key pair for sealed moves (never overwrites)."
    requires_system_checks: list[str] = []  # noqa: RUF012 - Django's own attribute

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--signing", required=True, help="Path of the private key; the public key gets .pub"
        )

    def handle(self, *args, **options) -> None:
        private = Path(options["signing"])
        public = private.with_suffix(".pub")
        try:
            fingerprint = generate(private, public)
        except (LedgerError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"private key: {private} (keep it off the database server)")
        self.stdout.write(f"public key:  {public} (give it to reviewers)")
        self.stdout.write(f"fingerprint: {fingerprint}")
