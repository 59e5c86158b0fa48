"""Read-only admin for moves, steps and entries: nobody can add, change or delete here."""

from __future__ import annotations

from django.contrib import admin

from ledger.models import Entry, Move, Step


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and detail pages only; the ledger is written by recordings, never by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]


@admin.register(Move)
class MoveAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "command", "operator", "committed_at", "entry_count", "reverts")
    list_filter = ("kind", "command")
    search_fields = ("=id", "operator", "reason")


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = ("id", "move", "seq", "label", "action", "expected_rows", "captured_rows")
    list_filter = ("label",)
    search_fields = ("=move__id",)


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "move", "step", "table_name", "op", "row_pk")
    list_filter = ("table_name", "op")
    # "=5" finds entries of the row with primary key 5, or of move 5.
    search_fields = ("=row_pk", "=move__id")
    list_select_related = ("move", "step")
    show_full_result_count = False
