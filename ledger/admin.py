"""Read-only admin for compliance reviewers: moves, steps, entries and row histories.

Nobody can add, change or delete here. A move's page is a review page (``ledger.web.views``):
who, when, why, arguments, steps, per-table counts, sample diffs, verification and lineage.
Entries are filtered by move, table and operation from the page; the search box finds a row's
primary key only, so searching "6" never mixes move 6 with rows whose key is 6.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.contrib import admin
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from ledger import config
from ledger.models import Entry, Move, Step
from ledger.web import views
from ledger.web.formats import number, when
from ledger.web.links import entries_url, move_link, row_url
from ledger.web.review import OPS, column_diff, show_value


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Lists and detail pages only; the ledger is written by recordings, never by hand."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]


def _argument_column(heading: str, key: str) -> Callable[[Move], str]:
    def column(move: Move) -> str:
        value = move.arguments.get(key) if isinstance(move.arguments, dict) else None
        return "-" if value is None else show_value(value)

    column.short_description = heading  # type: ignore[attr-defined]
    return column


@admin.register(Move)
class MoveAdmin(ReadOnlyAdmin):
    list_display_links = ("id",)
    list_filter = ("kind", "command")
    # The moves list has no row keys: "6" finds move 6 (or an operator named 6).
    search_fields = ("=id", "operator", "reason")
    search_help_text = "A move id, an operator, or words of the reason."
    list_select_related = ("reverted_by",)
    list_per_page = 50

    def get_list_display(self, request: HttpRequest) -> tuple[Any, ...]:
        arguments = tuple(_argument_column(h, k) for h, k in config.argument_columns())
        return (
            "id",
            "kind",
            "committed",
            "operator",
            "reason",
            *(arguments or ("arguments_text",)),
            "entries",
            "signed",
            "lineage",
        )

    @admin.display(description="committed", ordering="committed_at")
    def committed(self, move: Move) -> str:
        return when(move.committed_at)

    @admin.display(description="arguments")
    def arguments_text(self, move: Move) -> str:
        return show_value(move.arguments)

    @admin.display(description="entries", ordering="entry_count")
    def entries(self, move: Move) -> str:
        return format_html(
            '<a href="{}">{}</a>', entries_url(move=move.pk), number(move.entry_count)
        )

    @admin.display(description="signed")
    def signed(self, move: Move) -> str:
        return "signed" if move.signer else "unsigned"

    @admin.display(description="lineage")
    def lineage(self, move: Move) -> str:
        parts = []
        if move.reverts_id:
            parts.append(format_html("reverts {}", move_link(move.reverts_id)))
        reverted_by = getattr(move, "reverted_by", None)
        if reverted_by is not None:
            parts.append(format_html("reverted by {}", move_link(reverted_by.pk)))
        return mark_safe("; ".join(parts)) if parts else "-"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        return views.move_page(self, request, object_id)


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = ("id", "move", "seq", "label", "action", "expected_rows", "captured_rows")
    list_filter = ("label",)
    search_fields = ("=move__id",)
    search_help_text = "A move id."


class MoveFilter(admin.SimpleListFilter):
    """A move id typed into the sidebar (a list of every move would not scale)."""

    title = "move"
    parameter_name = "move"
    template = "admin/ledger/input_filter.html"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return []

    def has_output(self) -> bool:
        return True

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = (self.value() or "").strip()
        if not value:
            return queryset
        return queryset.filter(move_id=int(value)) if value.isdecimal() else queryset.none()

    def choices(self, changelist: Any) -> Iterator[Any]:
        hidden = [(k, v) for k, v in changelist.params.items() if k != self.parameter_name]
        yield {
            "value": self.value() or "",
            "name": self.parameter_name,
            "hidden": hidden,
            "clear": changelist.get_query_string(remove=[self.parameter_name]),
        }


class TableFilter(admin.SimpleListFilter):
    """The tables the ledger holds changes of (of the chosen move, when one is chosen)."""

    title = "table"
    parameter_name = "table_name"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        move = request.GET.get("move", "").strip()
        where, params = ("WHERE move_id = %s", [int(move)]) if move.isdecimal() else ("", [])
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT table_name FROM ledger_change {where} ORDER BY 1", params
            )
            return [(t, t) for (t,) in cursor.fetchall()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(table_name=self.value()) if self.value() else queryset


class OpFilter(admin.SimpleListFilter):
    title = "operation"
    parameter_name = "op"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, str]]:
        return list(OPS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(op=self.value()) if self.value() else queryset


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "move_column", "step_column", "table_name", "operation", "row", "change")
    list_display_links = ("id",)
    list_filter = (MoveFilter, TableFilter, OpFilter)
    # Row keys only: a move is chosen with the filter, so "6" never matches move 6.
    search_fields = ("=row_pk",)
    search_help_text = "A row's primary key (choose the move and table on the right)."
    list_select_related = ("step",)
    show_full_result_count = False
    fields = ("id", "move_column", "step_column", "table_name", "operation", "row", "diff")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.fields)

    @admin.display(description="move", ordering="move_id")
    def move_column(self, entry: Entry) -> str:
        return move_link(entry.move_id)

    @admin.display(description="step")
    def step_column(self, entry: Entry) -> str:
        return entry.step.label if entry.step is not None else "(outside steps)"

    @admin.display(description="op", ordering="op")
    def operation(self, entry: Entry) -> str:
        return OPS.get(entry.op, entry.op)

    @admin.display(description="row", ordering="row_pk")
    def row(self, entry: Entry) -> str:
        return format_html(
            '<a href="{}" title="history of this row">{}</a>',
            row_url(entry.table_name, entry.row_pk),
            entry.row_pk,
        )

    @admin.display(description="change")
    def change(self, entry: Entry) -> str:
        if entry.op == "I":
            return f"new row ({len(entry.after or {})} columns)"
        if entry.op == "D":
            return f"row deleted ({len(entry.before or {})} columns)"
        return "; ".join(
            f"{d.column}: {d.before} → {d.after}" for d in column_diff(entry.before, entry.after)
        )

    @admin.display(description="before / after")
    def diff(self, entry: Entry) -> str:
        return views.render_diff(column_diff(entry.before, entry.after))

    def get_urls(self) -> list[Any]:
        history = self.admin_site.admin_view(self.row_history_view)
        return [
            path("row/", history, name="ledger_row_lookup"),
            path("row/<str:table>/<str:pk>/", history, name="ledger_row_history"),
            *super().get_urls(),
        ]

    def row_history_view(
        self, request: HttpRequest, table: str | None = None, pk: str | None = None
    ) -> HttpResponse:
        return views.row_history_page(self, request, table, pk)
