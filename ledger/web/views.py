"""The reviewer pages the ledger's admin serves: a move's review page and a row's history.

Read-only: GET only, nothing is written but the derived row index (``ledger.rowindex``), which
``row_history`` brings up to date before reading it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse

from ledger import config
from ledger.errors import MoveNotFound
from ledger.queries import row_history
from ledger.signing import SigningKeyError, load_public_key
from ledger.web.review import SAMPLES_PER_KIND, ColumnDiff, column_diff, move_review
from ledger.web.rows import UnknownRow, primary_key, resolve_table

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from django.contrib.admin import ModelAdmin


def render_diff(columns: list[ColumnDiff]) -> str:
    """A column-by-column before/after table (HTML)."""
    return render_to_string("admin/ledger/diff.html", {"columns": columns})


def _context(model_admin: ModelAdmin[Any], request: HttpRequest, title: str) -> dict[str, Any]:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "subtitle": None,
    }


def _public_key() -> tuple[Ed25519PublicKey | None, str]:
    """The configured public key and why it is absent or unusable."""
    path = config.public_key_file()
    if path is None:
        return None, "no public key configured (LEDGER_PUBLIC_KEY_FILE)"
    try:
        return load_public_key(path), ""
    except SigningKeyError as exc:
        return None, str(exc)


def move_page(model_admin: ModelAdmin[Any], request: HttpRequest, object_id: str) -> HttpResponse:
    """A move as a reviewer reads it; ``?verify=1`` recomputes every digest of the move."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    if not object_id.isdecimal():
        raise Http404(f"no move {object_id!r}")
    key, key_note = _public_key()
    try:
        review = move_review(
            int(object_id), public_key=key, recompute=request.GET.get("verify") == "1"
        )
    except MoveNotFound as exc:
        raise Http404(str(exc)) from exc
    header = review.detail.header
    context = {
        **_context(model_admin, request, f"{header.kind.capitalize()} {header.id}"),
        "review": review,
        "h": header,
        "key_note": key_note,
        "arguments": sorted(header.arguments.items()),
        "samples_per_kind": SAMPLES_PER_KIND,
    }
    return TemplateResponse(request, "admin/ledger/move/review.html", context)


def row_history_page(
    model_admin: ModelAdmin[Any], request: HttpRequest, table: str | None, pk: str | None
) -> HttpResponse:
    """Every entry that touched one row, across moves; without a row, a form to name one."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    error = ""
    if table is None:
        asked, key = request.GET.get("table", "").strip(), request.GET.get("pk", "").strip()
        if asked and key:
            try:
                resolved = resolve_table(asked)
                return redirect(
                    "admin:ledger_row_history", resolved, primary_key(resolved, key, asked)
                )
            except UnknownRow as exc:
                error = str(exc)
        history = []
    else:
        asked, key = table, pk or ""
        history = [(h, column_diff(h.before, h.after)) for h in row_history(table, key)]
    context = {
        **_context(
            model_admin, request, f"History of {table} row {pk}" if table else "Row history"
        ),
        "table": table,
        "pk": pk,
        "asked_table": asked,
        "asked_pk": key,
        "error": error,
        "history": history,
    }
    return TemplateResponse(request, "admin/ledger/entry/row_history.html", context)
