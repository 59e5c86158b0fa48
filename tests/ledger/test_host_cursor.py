"""The ledger inside a host that patches Django's cursor, as Antenna's django-cachalot does.

django-cachalot wraps ``CursorWrapper.execute`` and, after every statement, calls
``sql.lower()`` to find the tables it wrote: a statement composed with the driver's ``sql``
module (``Composed``) fails there. Every statement the ledger sends through Django's cursors,
on the recording's connection and on its side connections, must be text.
"""

from __future__ import annotations

import io

import pytest
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

import ledger


@pytest.fixture
def text_only_cursor(monkeypatch):
    """Patch Django's cursor class the way django-cachalot does: the statement must be text."""
    seen: list[str] = []

    def patch(original):
        def inner(cursor, sql, *args, **kwargs):
            try:
                return original(cursor, sql, *args, **kwargs)
            finally:
                seen.append(sql.lower())  # what cachalot does after every statement

        return inner

    monkeypatch.setattr(CursorWrapper, "execute", patch(CursorWrapper.execute))
    monkeypatch.setattr(CursorWrapper, "executemany", patch(CursorWrapper.executemany))
    return seen


@pytest.mark.django_db(transaction=True)
def test_record_verify_export_revert_send_text_to_djangos_cursor(
    committed_tables, text_only_cursor
):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO ledger_t_parent (name) VALUES ('p1'), ('p2')")
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        rec.step("[rename]", expected_rows=2, action="update"),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE ledger_t_parent SET name = name || '!'")
    assert ledger.verify().ok
    ledger.export_move(rec.move_id, io.BytesIO())
    ledger.revert(rec.move_id, execute=False)
    ledger.revert(rec.move_id, execute=True, reason="undo", operator="7")
    ledger.release_capture()
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM ledger_t_parent ORDER BY id")
        assert cursor.fetchall() == [("p1",), ("p2",)]
    assert any("lock table" in statement for statement in text_only_cursor)
