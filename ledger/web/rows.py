"""A row named as a reviewer names it (``app_label.Model`` or a table name, and a primary key),
as the ledger holds it: the table name and the key's text. Used by ``row_history`` and the
admin's row history page."""

from __future__ import annotations

from django.apps import apps
from django.core.exceptions import ValidationError

from ledger.errors import LedgerError
from ledger.queries import table_exists


class UnknownRow(LedgerError):
    """A model, table or primary key the ledger cannot look up; the message says what to pass."""


def resolve_table(name: str) -> str:
    """``app_label.Model`` to its db_table; a raw table name as is, if it exists.

    Raises:
        UnknownRow: no such model or table.
    """
    if "." in name:
        try:
            return str(apps.get_model(name)._meta.db_table)
        except (LookupError, ValueError) as exc:
            raise UnknownRow(
                f"unknown model {name!r}: use app_label.ModelName (e.g. auth.Group) "
                "or a table name"
            ) from exc
    if not table_exists(name):
        raise UnknownRow(
            f"unknown table {name!r}: use app_label.ModelName or an existing table name"
        )
    return name


def primary_key(table: str, value: str, name: str) -> str:
    """The pk as the ledger holds it (the column's text: "07" is 7), checked against the model.

    A table no model maps is taken as is: there is nothing to check the value against.

    Raises:
        UnknownRow: the value cannot be a primary key of the model.
    """
    models = [m for m in apps.get_models(include_auto_created=True) if m._meta.db_table == table]
    if not models:
        return value
    try:
        return str(models[0]._meta.pk.to_python(value))
    except ValidationError as exc:
        reason = " ".join(exc.messages).rstrip(".")
        raise UnknownRow(
            f"{value!r} is not a primary key of {name} ({reason}): pass the row's id, "
            f"e.g. row_history {name} 3"
        ) from exc
