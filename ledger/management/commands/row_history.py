"""Every ledger entry that touched one row, across moves, oldest first.

python manage.py row_history main.SourceImage 42 [--format json]
python manage.py row_history main_sourceimage 42
"""

from __future__ import annotations

from typing import Any

import msgspec
from django.core.management.base import CommandError, CommandParser

from ledger.management.base import LedgerCommand
from ledger.queries import HistoryRow, row_history
from ledger.web.formats import text_table, when
from ledger.web.review import column_diff
from ledger.web.rows import UnknownRow, primary_key, resolve_table


class Command(LedgerCommand):
    help = "Show the history of one row: app_label.Model (or a table name) and a primary key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="app_label.Model, or a raw table name.")
        parser.add_argument("pk", help="The row's primary key.")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            table = resolve_table(options["model"])
            pk = primary_key(table, options["pk"], options["model"])
        except UnknownRow as exc:
            raise CommandError(str(exc)) from exc
        history = row_history(table, pk)
        if options["format"] == "json":
            self.stdout.write(msgspec.json.encode(history).decode())
            return
        if not history:
            self.stdout.write(f"no ledger entries for {table} row {pk}")
            return
        for line in render(history):
            self.stdout.write(line)


def render(history: list[HistoryRow]) -> list[str]:
    """The entries as an aligned table; the change column by column, last."""
    rows = [
        [
            str(h.entry_id),
            str(h.move_id),
            h.kind,
            when(h.committed_at),
            h.operator,
            h.step or "(outside steps)",
            h.op,
            change(h.before, h.after),
        ]
        for h in history
    ]
    headings = ["entry", "move", "kind", "committed", "operator", "step", "op", "change"]
    return text_table(headings, rows, right={"entry", "move"})


def change(before: dict[str, object] | None, after: dict[str, object] | None) -> str:
    """``column: before → after`` per column; an insert or delete shows the whole row."""
    columns = column_diff(before, after)
    if before is None:
        return "new row: " + ", ".join(f"{c.column}={c.after}" for c in columns)
    if after is None:
        return "deleted row: " + ", ".join(f"{c.column}={c.before}" for c in columns)
    return "; ".join(f"{c.column}: {c.before} → {c.after}" for c in columns)
