"""Addresses of the reviewer pages, so the admin, its templates and the pages agree."""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode


def move_url(move_id: int) -> str:
    """A move's review page."""
    return reverse("admin:ledger_move_change", args=[move_id])


def move_link(move_id: int | None) -> str:
    """A link to a move's review page, or ``-``."""
    if move_id is None:
        return "-"
    return format_html('<a href="{}">move {}</a>', move_url(move_id), move_id)


def entries_url(**filters: object) -> str:
    """The entries list filtered by ``move``, ``table_name``, ``op`` or ``step``."""
    query = {k: str(v) for k, v in filters.items() if v is not None}
    return reverse("admin:ledger_entry_changelist") + ("?" + urlencode(query) if query else "")


def row_url(table: str, pk: str) -> str:
    """A row's history page."""
    return reverse("admin:ledger_row_history", args=[table, pk])
