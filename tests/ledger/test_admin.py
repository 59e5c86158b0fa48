"""The admin shows the ledger read-only; the system checks see its protection."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core import checks
from django.db import connection, transaction
from django.test import RequestFactory

import ledger
from ledger.models import Entry, Move, Step


@pytest.mark.parametrize("model", [Move, Step, Entry])
def test_nobody_can_add_change_or_delete_in_the_admin(model):
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_entries_are_listed_and_filtered_by_move_table_and_row(seeded, admin_client):
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_t_child SET name = 'x' WHERE id IN (2, 3)")
    for query, rows in [
        ({"table_name": "ledger_t_child", "q": "3"}, ["3"]),
        ({"move": rec.move_id}, ["2", "3"]),
        ({"move": rec.move_id + 1}, []),
        ({"table_name": "ledger_t_child", "row_pk": "2"}, ["2"]),
    ]:
        page = admin_client.get("/admin/ledger/entry/", query)
        assert page.status_code == 200
        assert list(page.context["cl"].result_list.values_list("row_pk", flat=True)) == rows
    page = admin_client.get("/admin/ledger/move/")
    assert page.status_code == 200
    detail = admin_client.get(f"/admin/ledger/move/{rec.move_id}/change/")
    assert detail.status_code == 200
    assert b"Save" not in detail.content


def test_system_checks_pass_and_see_missing_protection(db):
    found = checks.run_checks(databases=["default"], tags=["database"])
    assert [m.id for m in found] == ["ledger.W003"]  # the suite runs as a superuser
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE ledger_step DISABLE TRIGGER ALL")
    ids = [m.id for m in checks.run_checks(databases=["default"], tags=["database"])]
    assert "ledger.E001" in ids
