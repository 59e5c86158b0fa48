"""How the reviewer pages, the dossier and the compliance commands write times and numbers."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.dateformat import format as date_format


def when(value: datetime | str | None) -> str:
    """A timestamp with seconds and its zone, in ``TIME_ZONE``: ``2025-03-02 10:14:07 UTC``.

    Accepts the ledger's canonical text (``2025-03-02T10:14:07.412345Z``) too.
    """
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return date_format(timezone.localtime(value), "Y-m-d H:i:s T")


def number(value: int | None) -> str:
    """A count with thousands separators (``73,008``); ``-`` when there is none."""
    return "-" if value is None else f"{value:,}"
