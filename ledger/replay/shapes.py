"""What the replay needs to know of a captured table, from the move's own header."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from ledger.dbapi import sql

# Types without an equality operator: compared through their text form.
_NO_EQUALITY = frozenset({"json", "xml", "point", "polygon", "line", "box", "circle", "path"})


@dataclass(frozen=True)
class TableShape:
    """A captured table as it was when the move was recorded.

    Attributes:
        table: its name.
        pk: its primary key column.
        columns: column name -> SQL type, in table order.
        secret: columns the ledger keeps as fingerprints.
        derived: columns the domain recomputes: restored but never compared.
        bookkeeping: columns any save stamps (``updated_at``): never compared; restored
            only where the row is otherwise restored and still holds the move's value.
    """

    table: str
    pk: str
    columns: Mapping[str, str]
    secret: frozenset[str]
    derived: frozenset[str]
    bookkeeping: frozenset[str] = frozenset()

    @classmethod
    def from_header(
        cls,
        table: str,
        snapshot: Mapping[str, object],
        derived: frozenset[str],
        bookkeeping: frozenset[str] = frozenset(),
    ) -> TableShape:
        columns = snapshot["columns"]
        assert isinstance(columns, dict)
        return cls(
            table=table,
            pk=str(snapshot["pk"]),
            columns=dict(columns),
            secret=frozenset(cast("Iterable[str]", snapshot.get("secret_columns") or ())),
            derived=derived,
            bookkeeping=bookkeeping - derived,
        )

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.table)

    @property
    def pk_type(self) -> sql.SQL:
        return sql.SQL(self.columns[self.pk])

    @property
    def soft(self) -> frozenset[str]:
        """Columns that never make drift: derived and bookkeeping ones."""
        return self.derived | self.bookkeeping

    def compared(self) -> list[str]:
        """Columns a compare-and-swap checks: all but the key, derived and bookkeeping."""
        return [c for c in self.columns if c != self.pk and c not in self.soft]

    def all_equal(self, columns: list[str], record: str, recorded_json: str) -> sql.Composable:
        """Every one of ``columns`` of the live row ``t`` holds its value in ``record``.

        Args:
            columns: the columns to compare (TRUE when there are none).
            record: SQL of the typed recorded row, e.g. ``"src.a"`` or ``"r"``.
            recorded_json: SQL of the recorded jsonb object (for secret fingerprints).
        """
        parts = [
            self.equal(
                sql.SQL("t.{}").format(sql.Identifier(col)),
                sql.SQL("({}).{}").format(sql.SQL(record), sql.Identifier(col)),
                col,
                sql.SQL(recorded_json),
            )
            for col in columns
        ]
        return sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")

    def equal(
        self,
        current: sql.Composable,
        recorded: sql.Composable,
        column: str,
        recorded_json: sql.Composable,
    ) -> sql.Composable:
        """``current`` holds what the ledger recorded for ``column``.

        Args:
            current: the live column, e.g. ``t.project_id``.
            recorded: the typed recorded value, e.g. ``(src.a).project_id``.
            column: the column's name.
            recorded_json: the recorded jsonb object (for fingerprints of secret columns).
        """
        if column in self.secret:
            return sql.SQL("ledger_fingerprint(({})::text) IS NOT DISTINCT FROM {} ->> {}").format(
                current, recorded_json, sql.Literal(column)
            )
        if self.columns[column].split("(")[0] in _NO_EQUALITY:
            return sql.SQL("({})::text IS NOT DISTINCT FROM ({})::text").format(current, recorded)
        return sql.SQL("{} IS NOT DISTINCT FROM {}").format(current, recorded)
