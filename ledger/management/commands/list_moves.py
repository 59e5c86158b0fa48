"""Sealed moves as a table: id, kind, when, operator, the arguments the settings name
(``LEDGER_ARGUMENT_COLUMNS``, e.g. source, target, deployments), lineage, reason.

    python manage.py list_moves [--project 7] [--since 2025-01-31] [--format json]
"""

from __future__ import annotations

from datetime import date

import msgspec
from django.core.management.base import BaseCommand, CommandError

from ledger import config
from ledger.models import Move
from ledger.queries import list_moves
from ledger.structs import MoveSummary
from ledger.web.formats import text_table, when
from ledger.web.review import show_value


class Command(BaseCommand):
    help = "List sealed moves, oldest first."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--project", help="Only moves whose source or target is this project id."
        )
        parser.add_argument("--since", help="Only moves committed on or after this date (UTC).")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **options) -> None:
        project = project_id(options["project"])
        since = None
        if options["since"]:
            try:
                since = date.fromisoformat(options["since"])
            except ValueError as exc:
                raise CommandError(
                    f"--since {options['since']!r} is not a date: use YYYY-MM-DD"
                ) from exc
        moves = list_moves(project=project, since=since)
        if options["format"] == "json":
            self.stdout.write(msgspec.json.encode(moves).decode())
            return
        if not moves:
            self.stdout.write("no moves recorded")
            return
        for line in render(moves):
            self.stdout.write(line)


def render(moves: list[MoveSummary]) -> list[str]:
    """The moves as an aligned table."""
    columns = config.argument_columns()
    arguments = dict(
        Move.objects.filter(pk__in=[m.id for m in moves]).values_list("id", "arguments")
    )
    headings = ["id", "kind", "committed", "operator"]
    headings += [h for h, _ in columns] or ["arguments"]
    headings += ["lineage", "reason"]
    rows = []
    for m in moves:
        given = arguments.get(m.id) or {}
        values = [_show(given.get(key)) for _, key in columns] or [show_value(given)]
        rows.append(
            [str(m.id), m.kind, when(m.committed_at), m.operator, *values, _lineage(m), m.reason]
        )
    return text_table(headings, rows, right={"id"})


def _lineage(m: MoveSummary) -> str:
    if m.reverts_id:
        return f"undoes {m.reverts_id}"
    return f"reverted by {m.reverted_by}" if m.reverted_by else "-"


def _show(value: object) -> str:
    return "-" if value is None else show_value(value)


def project_id(value: str | None) -> str | None:
    """``--project`` as the moves' arguments hold it (a JSON number: "07" matches 7)."""
    if value is None:
        return None
    if not value.strip().isdecimal() or int(value) < 1:
        raise CommandError(f"--project {value!r} is not a project id: pass a number, e.g. 7")
    return str(int(value))
