"""Who, when, why, arguments, steps with their counts, writes outside steps, digest, lineage;
or a dossier of the move and its revert for a ticket.

python manage.py show_move 12 [--format json]
python manage.py show_move 12 --format markdown --output move-12.md [--public-key ledger.pub]
python manage.py show_move 12 --format html --output move-12.html
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from django.core.management.base import CommandError, CommandParser

from ledger.errors import MoveNotFound
from ledger.management.base import LedgerCommand
from ledger.queries import move_detail
from ledger.signing import SigningKeyError, load_public_key
from ledger.structs import MoveDetail
from ledger.web.dossier import dossier_reviews, render_html, render_markdown
from ledger.web.formats import number, when

DOSSIERS = {"markdown": render_markdown, "html": render_html}


class Command(LedgerCommand):
    help = "Show one sealed move, or write its dossier (Markdown or HTML) for a ticket."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("move", type=int, help="The move id (see list_moves).")
        parser.add_argument(
            "--format",
            choices=["text", "json", "markdown", "html"],
            default="text",
            help="markdown, html: a self-contained dossier of the move and its revert, "
            "every digest recomputed",
        )
        parser.add_argument("--output", metavar="FILE", help="Write to FILE, not stdout.")
        parser.add_argument(
            "--public-key",
            metavar="PATH",
            help="PEM public key: the dossier checks the moves' signatures with it.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        fmt = options["format"]
        try:
            key = load_public_key(options["public_key"]) if options["public_key"] else None
            if fmt in DOSSIERS:
                text = DOSSIERS[fmt](dossier_reviews(options["move"], public_key=key))
            elif fmt == "json":
                text = msgspec.json.encode(move_detail(options["move"])).decode()
            else:
                text = "\n".join(render(move_detail(options["move"])))
        except (MoveNotFound, SigningKeyError) as exc:
            raise CommandError(str(exc)) from exc
        if not options["output"]:
            self.stdout.write(text)
            return
        try:
            Path(options["output"]).write_text(text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            raise CommandError(
                f"cannot write {options['output']} ({exc.strerror}): check the path"
            ) from exc
        if options["verbosity"]:
            self.stdout.write(f"wrote {options['output']}")


def render(detail: MoveDetail) -> list[str]:
    """The text form of a move."""
    h = detail.header
    lines = [
        f"{h.kind} {h.id}: {h.command}",
        f"  operator   {h.operator}",
        f"  started    {when(h.started_at)}",
        f"  committed  {when(h.committed_at)}",
        f"  reason     {_or_absent(h.reason, 'none given')}",
        f"  arguments  {msgspec.json.encode(h.arguments).decode()}",
        f"  entries    {number(h.entry_count)}",
        f"  signer     {_or_absent(h.signer, 'unsigned')}",
        "  steps:",
    ]
    width = max((len(s.label) for s in h.steps), default=0)
    for s in h.steps:
        lines.append(
            f"    {s.seq:>3} {s.label:<{width}} {s.action} expected={number(s.expected_rows)} "
            f"captured={number(s.captured_rows)}"
        )
    if detail.outside_steps:
        lines.append("  writes outside steps:")
        lines += [f"    {w.op} {w.table}: {number(w.rows)} row(s)" for w in detail.outside_steps]
    else:
        lines.append("  writes outside steps: none")
    lines += [
        f"  digest       {detail.digest}",
        f"  prev_digest  {_or_absent(h.prev_digest, 'first move')}",
        f"  schema       {h.schema_fingerprint}",
    ]
    if h.reverts_id:
        lines.append(f"  reverts move {h.reverts_id}")
    if detail.reverted_by:
        lines.append(f"  reverted by move {detail.reverted_by}")
    return lines


def _or_absent(value: str | None, why: str) -> str:
    """A value, or "- (why)" where there is none: never "None" nor an empty field."""
    return value if value else f"- ({why})"
