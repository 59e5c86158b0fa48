"""Who, when, why, arguments, steps with their counts, writes outside steps, digest, lineage.

python manage.py show_move 12 [--format json]
"""

from __future__ import annotations

import msgspec
from django.core.management.base import BaseCommand, CommandError

from ledger.errors import MoveNotFound
from ledger.queries import move_detail
from ledger.structs import MoveDetail


class Command(BaseCommand):
    help = "Show one sealed move."

    def add_arguments(self, parser) -> None:
        parser.add_argument("move", type=int, help="The move id (see list_moves).")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **options) -> None:
        try:
            detail = move_detail(options["move"])
        except MoveNotFound as exc:
            raise CommandError(str(exc)) from exc
        if options["format"] == "json":
            self.stdout.write(msgspec.json.encode(detail).decode())
        else:
            self.stdout.write("\n".join(render(detail)))


def render(detail: MoveDetail) -> list[str]:
    """The text form of a move."""
    h = detail.header
    lines = [
        f"{h.kind} {h.id}: {h.command}",
        f"  operator   {h.operator}",
        f"  started    {h.started_at}",
        f"  committed  {h.committed_at}",
        f"  reason     {_or_absent(h.reason, 'none given')}",
        f"  arguments  {msgspec.json.encode(h.arguments).decode()}",
        f"  entries    {h.entry_count}",
        "  steps:",
    ]
    for s in h.steps:
        expected = "-" if s.expected_rows is None else s.expected_rows
        lines.append(
            f"    {s.seq:>3} {s.label} {s.action} expected={expected} captured={s.captured_rows}"
        )
    if detail.outside_steps:
        lines.append("  writes outside steps:")
        lines += [f"    {w.op} {w.table}: {w.rows} row(s)" for w in detail.outside_steps]
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
