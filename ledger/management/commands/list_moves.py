"""One line per sealed move: id, kind, when, operator, reason, source, target, deployments,
reverted by.

    python manage.py list_moves [--project 7] [--since 2025-01-31] [--format json]
"""

from __future__ import annotations

from datetime import date

import msgspec
from django.core.management.base import BaseCommand, CommandError

from ledger.queries import list_moves


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
        for m in moves:
            reverted = f" reverted by {m.reverted_by}" if m.reverted_by else ""
            undoes = f" (undoes {m.reverts_id})" if m.reverts_id else ""
            self.stdout.write(
                f"{m.id} {m.kind}{undoes} {m.committed_at} operator={m.operator} "
                f"source={_show(m.source)} target={_show(m.target)} "
                f"deployments={_show(m.deployments)}{reverted} reason={m.reason!r}"
            )


def project_id(value: str | None) -> str | None:
    """``--project`` as the moves' arguments hold it (a JSON number: "07" matches 7)."""
    if value is None:
        return None
    if not value.strip().isdecimal() or int(value) < 1:
        raise CommandError(f"--project {value!r} is not a project id: pass a number, e.g. 7")
    return str(int(value))


def _show(value: object) -> str:
    return "-" if value is None else msgspec.json.encode(value).decode()
