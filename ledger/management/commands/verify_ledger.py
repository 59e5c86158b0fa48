"""Recompute every digest and chain link; exit 1 naming the first record that does not match.

python manage.py verify_ledger                      # the whole chain
python manage.py verify_ledger --move 12            # one move and its link
python manage.py verify_ledger --file move-12.jsonl --digest <hex>   # offline, no database
"""

from __future__ import annotations

from typing import ClassVar

import msgspec
from django.core.management.base import BaseCommand, CommandError

from ledger.errors import ExportFormatError, MoveNotFound
from ledger.export import verify_file
from ledger.structs import VerifyReport
from ledger.verify import failure_message, verify


class Command(BaseCommand):
    help = "Verify the ledger's digests and chain links, or an exported move offline."
    # Offline verification must run with the database unreachable: no checks touch it.
    requires_system_checks: ClassVar[list[str]] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--move", type=int, help="Verify only this move (and its link).")
        parser.add_argument("--file", help="Verify an export_ledger file, with no database.")
        parser.add_argument("--digest", help="With --file: the digest you kept for the move.")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **options) -> None:
        if options["digest"] and not options["file"]:
            raise CommandError("--digest goes with --file: pass the export to check it against")
        if options["file"] and options["move"] is not None:
            raise CommandError("pass either --file (offline) or --move (database), not both")
        try:
            if options["file"]:
                report = verify_file(options["file"], expected_digest=options["digest"])
            else:
                report = verify(options["move"])
        except (ExportFormatError, MoveNotFound) as exc:
            raise CommandError(str(exc)) from exc
        self._render(report, options)
        if not report.ok:
            raise CommandError(failure_message(report.failures[0]))

    def _render(self, report: VerifyReport, options) -> None:
        if options["format"] == "json":
            self.stdout.write(msgspec.json.encode(report).decode())
            return
        if options["verbosity"] == 0:
            return
        for failure in report.failures:
            self.stderr.write(failure_message(failure))
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"OK: {report.moves_checked} move(s), {report.entries_checked} entries; "
                    f"last digest {report.last_digest}"
                )
            )
