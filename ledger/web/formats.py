"""How the reviewer pages, the dossier and the compliance commands write times and numbers."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from datetime import datetime

from django.utils import timezone
from django.utils.dateformat import format as date_format


def when(value: datetime | str | None) -> str:
    """A timestamp with seconds and its zone, in ``TIME_ZONE``: ``2025-03-02 10:14:07 UTC``.

    Accepts the ledger's canonical text (``2025-03-02T10:14:07.412345Z``) too. A naive time,
    as the database gives it where ``USE_TZ = False`` (Antenna), is already in ``TIME_ZONE``.
    """
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return date_format(value, "Y-m-d H:i:s T")


def number(value: int | None) -> str:
    """A count with thousands separators (``73,008``); ``-`` when there is none."""
    return "-" if value is None else f"{value:,}"


def text_table(
    headings: list[str], rows: list[list[str]], right: AbstractSet[str] = frozenset()
) -> list[str]:
    """Rows as aligned columns under their headings (the last column is never padded, so a
    long reason or change runs on without pushing the others); ``right`` columns are
    right-aligned (numbers)."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headings)]

    def line(cells: list[str]) -> str:
        out = []
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            if i == len(cells) - 1:
                out.append(cell)
            elif headings[i] in right:
                out.append(cell.rjust(width))
            else:
                out.append(cell.ljust(width))
        return "  ".join(out).rstrip()

    return [line(headings), *(line(r) for r in rows)]
