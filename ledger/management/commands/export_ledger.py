"""Export sealed moves as JSON lines (header, steps, entries, seal), or the format's schema.

python manage.py export_ledger --move 12 --output move-12.jsonl
python manage.py export_ledger --moves 10..14 --output moves-10-14.jsonl
python manage.py export_ledger --schema --output docs/ledger-export.schema.json
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from django.core.management.base import CommandError, CommandParser

from ledger.errors import MoveNotFound
from ledger.export import export_move, export_moves, export_schema, require_moves
from ledger.management.base import LedgerCommand
from ledger.queries import read_header

_RANGE = re.compile(r"^(\d+)\.\.(\d+)$")


@contextlib.contextmanager
def written_whole(output: Path) -> Iterator[BinaryIO]:
    """A file that becomes ``output`` only once it is written whole (renamed over it).

    An export stopped half way (a lost connection, an interrupt) leaves ``output`` as it
    was, never a truncated export a reviewer could take for a whole one.
    """
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as handle:
            yield handle
        partial.replace(output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def parse_range(text: str) -> tuple[int, int]:
    """``A..B`` as ``(A, B)``.

    Raises:
        CommandError: not a range of move ids, or an empty one.
    """
    match = _RANGE.match(text.strip())
    if match is None:
        raise CommandError(f"--moves {text!r} is not a range: write first..last, e.g. 3..7")
    first, last = int(match[1]), int(match[2])
    if last < first:
        raise CommandError(
            f"--moves {text} is empty: put the first move first, e.g. {last}..{first}"
        )
    return first, last


class Command(LedgerCommand):
    help = "Write sealed moves and their digests to a JSON lines file a reviewer verifies offline."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--move", type=int, help="The move to export.")
        parser.add_argument(
            "--moves", help="A range of moves, first..last (both included), in one file."
        )
        parser.add_argument("--output", required=True, help="File to write.")
        parser.add_argument(
            "--schema", action="store_true", help="Write the JSON Schema of an export line."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"])
        if options["schema"]:
            self._write(output, export_schema())
            return
        if options["move"] is not None and options["moves"]:
            raise CommandError("pass --move N or --moves A..B, not both")
        if options["moves"]:
            self._export_range(output, *parse_range(options["moves"]), options["verbosity"])
            return
        if options["move"] is None:
            raise CommandError(
                "pass --move <id> (see list_moves), --moves <first>..<last>, or --schema"
            )
        try:
            read_header(options["move"])
        except MoveNotFound as exc:
            raise CommandError(str(exc)) from exc
        try:
            with written_whole(output) as handle:
                seal = export_move(options["move"], handle)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}; check the path") from exc
        if options["verbosity"]:
            self.stdout.write(
                f"move {seal.move_id}: {seal.entry_count} entries written to {output}\n"
                f"digest {seal.digest}\nprev_digest {seal.prev_digest or '- (first move)'}"
            )

    def _export_range(self, output: Path, first: int, last: int, verbosity: int) -> None:
        try:
            require_moves(first, last)
        except MoveNotFound as exc:
            raise CommandError(f"{exc} (--moves {first}..{last})") from exc
        try:
            with written_whole(output) as handle:
                seals = export_moves(first, last, handle)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}; check the path") from exc
        if verbosity >= 2:
            for seal in seals:
                self.stdout.write(
                    f"move {seal.move_id}: {seal.entry_count} entries, digest {seal.digest}"
                )
        if verbosity:
            entries = sum(seal.entry_count for seal in seals)
            self.stdout.write(
                f"moves {first}..{last}: {len(seals)} moves, {entries} entries written to "
                f"{output}\ndigest of move {last} {seals[-1].digest}\nprev_digest of move "
                f"{first} {seals[0].prev_digest or '- (first move)'}"
            )

    def _write(self, output: Path, data: bytes) -> None:
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror}; check the path") from exc
