"""Every ledger entry that touched one row, across moves, oldest first.

python manage.py row_history main.SourceImage 42 [--format json]
python manage.py row_history main_sourceimage 42
"""

from __future__ import annotations

import msgspec
from django.core.management.base import BaseCommand, CommandError

from ledger.digest import canonical_time
from ledger.queries import row_history
from ledger.web.rows import UnknownRow, primary_key, resolve_table


class Command(BaseCommand):
    help = "Show the history of one row: app_label.Model (or a table name) and a primary key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("model", help="app_label.Model, or a raw table name.")
        parser.add_argument("pk", help="The row's primary key.")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **options) -> None:
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
        for h in history:
            step = h.step or "(outside steps)"
            self.stdout.write(
                f"entry {h.entry_id} move {h.move_id} ({h.kind}) {canonical_time(h.committed_at)}"
                f" operator={h.operator} {step} {h.op} "
                f"before={msgspec.json.encode(h.before).decode()} "
                f"after={msgspec.json.encode(h.after).decode()}"
            )
