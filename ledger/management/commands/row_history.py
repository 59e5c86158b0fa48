"""Every ledger entry that touched one row, across moves, oldest first.

python manage.py row_history main.SourceImage 42 [--format json]
python manage.py row_history main_sourceimage 42
"""

from __future__ import annotations

import msgspec
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from ledger.digest import canonical_time
from ledger.queries import row_history, table_exists


class Command(BaseCommand):
    help = "Show the history of one row: app_label.Model (or a table name) and a primary key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("model", help="app_label.Model, or a raw table name.")
        parser.add_argument("pk", help="The row's primary key.")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args, **options) -> None:
        table = resolve_table(options["model"])
        pk = primary_key(table, options["pk"], options["model"])
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


def resolve_table(name: str) -> str:
    """``app_label.Model`` to its db_table; a raw table name as is, if it exists."""
    if "." in name:
        try:
            return apps.get_model(name)._meta.db_table
        except (LookupError, ValueError) as exc:
            raise CommandError(
                f"unknown model {name!r}: use app_label.ModelName (e.g. auth.Group) "
                "or a table name"
            ) from exc
    if not table_exists(name):
        raise CommandError(
            f"unknown table {name!r}: use app_label.ModelName or an existing table name"
        )
    return name


def primary_key(table: str, value: str, name: str) -> str:
    """The pk as the ledger holds it (the column's text: "07" is 7), checked against the model.

    A table no model maps is taken as is: there is nothing to check the value against.
    """
    models = [m for m in apps.get_models(include_auto_created=True) if m._meta.db_table == table]
    if not models:
        return value
    try:
        return str(models[0]._meta.pk.to_python(value))
    except ValidationError as exc:
        reason = " ".join(exc.messages).rstrip(".")
        raise CommandError(
            f"{value!r} is not a primary key of {name} ({reason}): pass the row's id, "
            f"e.g. row_history {name} 3"
        ) from exc
