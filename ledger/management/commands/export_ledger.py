"""Export a sealed move as JSON lines (header, steps, entries, seal), or the format's schema.

python manage.py export_ledger --move 12 --output move-12.jsonl
python manage.py export_ledger --schema --output docs/ledger-export.schema.json
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ledger.errors import MoveNotFound
from ledger.export import export_move, export_schema
from ledger.queries import read_header


class Command(BaseCommand):
    help = "Write a sealed move and its digest to a JSON lines file a reviewer verifies offline."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--move", type=int, help="The move to export.")
        parser.add_argument("--output", required=True, help="File to write.")
        parser.add_argument(
            "--schema", action="store_true", help="Write the JSON Schema of an export line."
        )

    def handle(self, *args, **options) -> None:
        output = Path(options["output"])
        if options["schema"]:
            self._write(output, export_schema())
            return
        if options["move"] is None:
            raise CommandError("pass --move <id> (see list_moves), or --schema")
        try:
            read_header(options["move"])
        except MoveNotFound as exc:
            raise CommandError(str(exc)) from exc
        try:
            with output.open("wb") as handle:
                seal = export_move(options["move"], handle)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}; check the path") from exc
        if options["verbosity"]:
            self.stdout.write(
                f"move {seal.move_id}: {seal.entry_count} entries written to {output}\n"
                f"digest {seal.digest}\nprev_digest {seal.prev_digest or '- (first move)'}"
            )

    def _write(self, output: Path, data: bytes) -> None:
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}; check the path") from exc
