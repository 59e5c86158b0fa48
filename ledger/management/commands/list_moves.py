"""Sealed moves as a table: id, kind, when, operator, the arguments the settings name
(``LEDGER_ARGUMENT_COLUMNS``), lineage, reason.

    python manage.py list_moves [--subject key=value ...] [--since 2025-01-31] [--format json]

Filters the domain registered (``ledger.register_list_filter``) are options of their own.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec
from django.core.management.base import CommandError, CommandParser

from ledger import config
from ledger.filters import list_filters, parse_subject
from ledger.management.base import LedgerCommand
from ledger.models import Move
from ledger.queries import list_moves
from ledger.structs import MoveSummary
from ledger.web.formats import text_table, when
from ledger.web.review import show_value


def _dest(name: str) -> str:
    return "filter_" + name.replace("-", "_")


class Command(LedgerCommand):
    help = "List sealed moves, oldest first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--subject",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="Only moves whose subjects hold VALUE under KEY (as the value, or in a list); "
            "repeat to require several.",
        )
        for found in list_filters():
            parser.add_argument(f"--{found.name}", dest=_dest(found.name), help=found.help)
        parser.add_argument("--since", help="Only moves committed on or after this date (UTC).")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        conditions = []
        try:
            conditions += [parse_subject(text) for text in options["subject"]]
            for found in list_filters():
                text = options.get(_dest(found.name))
                if text is not None:
                    conditions.append(found.match(text))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        since = None
        if options["since"]:
            try:
                since = date.fromisoformat(options["since"])
            except ValueError as exc:
                raise CommandError(
                    f"--since {options['since']!r} is not a date: use YYYY-MM-DD"
                ) from exc
        moves = list_moves(subjects=conditions, since=since)
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
