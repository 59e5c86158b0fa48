"""The reviewer pages through Django's test client: what each shows, and that nothing writes."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

import ledger
from tests.ledger.builders import superuser_bypass


def text(page) -> str:
    return page.content.decode()


def test_move_page_reads_who_when_why_counts_samples_and_lineage(reviewed, admin_client):
    move, revert = reviewed
    page = text(admin_client.get(f"/admin/ledger/move/{move.move_id}/change/"))
    assert "TICKET-12: stations filed under the wrong project" in page
    assert '<td id="operator">42</td>' in page
    assert "<code>[move-children]</code>" in page
    assert f'href="/admin/ledger/entry/?move={move.move_id}&amp;table_name=ledger_t_child"' in page
    assert f'href="/admin/ledger/move/{revert.move_id}/change/">move {revert.move_id}</a>' in page
    assert 'data-table="ledger_t_note" data-op="I"' in page
    assert 'data-table="ledger_t_note" data-op="D"' in page
    assert '<th scope="row">parent_id</th>' in page
    assert move.digest in page
    assert "unsigned" in page
    page = text(admin_client.get(f"/admin/ledger/move/{revert.move_id}/change/"))
    assert f'<td id="reverts"><a href="/admin/ledger/move/{move.move_id}/change/">' in page


def test_move_page_recomputes_on_demand_and_names_tampering(reviewed, admin_client):
    move, _ = reviewed
    page = text(admin_client.get(f"/admin/ledger/move/{move.move_id}/change/?verify=1"))
    assert "✓ intact</span>: 10 entries" in page
    with superuser_bypass(), connection.cursor() as cursor:
        cursor.execute(
            'UPDATE ledger_change SET after = \'{"name": "forged"}\' '
            "WHERE move_id = %s AND table_name = 'ledger_t_parent'",
            [move.move_id],
        )
    page = text(admin_client.get(f"/admin/ledger/move/{move.move_id}/change/?verify=1"))
    assert "✗ does not verify" in page
    assert "forged" in page  # the sample shows what the database now holds


def test_an_unknown_move_is_not_found(db, admin_client):
    assert admin_client.get("/admin/ledger/move/77/change/").status_code == 404
    assert admin_client.get("/admin/ledger/move/abc/change/").status_code == 404


def test_searching_a_number_finds_row_keys_never_moves(tables, admin_client):
    """Six moves: the first writes the row whose key is the sixth move's id, the sixth row 1."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) + 6 FROM ledger_move")
        (sixth,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO ledger_t_parent (id, name) SELECT g, 'p' FROM generate_series(1, %s) g",
            [sixth],
        )
    for n, row in enumerate([sixth, 2, 3, 4, 5, 1], start=1):
        with (
            transaction.atomic(),
            ledger.recording(command="t", reason="r", operator="7"),
            connection.cursor() as cursor,
        ):
            cursor.execute("UPDATE ledger_t_parent SET name = %s WHERE id = %s", [f"m{n}", row])
    page = admin_client.get("/admin/ledger/entry/", {"q": str(sixth)})
    found = list(page.context["cl"].result_list.values_list("row_pk", "move_id"))
    assert found == [(str(sixth), sixth - 5)]
    page = admin_client.get("/admin/ledger/entry/", {"move": sixth})
    assert list(page.context["cl"].result_list.values_list("row_pk", flat=True)) == ["1"]
    assert f'value="{sixth}"' in text(page)  # the move filter shows what it filters by
    page = admin_client.get("/admin/ledger/entry/", {"move": "abc"})
    assert list(page.context["cl"].result_list) == []


def test_entries_filter_by_operation_and_link_each_row_to_its_history(reviewed, admin_client):
    move, _ = reviewed
    page = admin_client.get("/admin/ledger/entry/", {"move": move.move_id, "op": "D"})
    entries = list(page.context["cl"].result_list)
    assert [(e.table_name, e.op) for e in entries] == [("ledger_t_note", "D")]
    assert f'href="/admin/ledger/entry/row/ledger_t_note/{entries[0].row_pk}/"' in text(page)
    detail = text(admin_client.get(f"/admin/ledger/entry/{entries[0].pk}/change/"))
    assert 'class="ledger-diff"' in detail
    assert "Save" not in detail


def test_row_history_page_and_lookup_form(reviewed, admin_client):
    move, revert = reviewed
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM ledger_t_parent WHERE name = 'p1'")
        (pk,) = cursor.fetchone()
    page = admin_client.get("/admin/ledger/entry/row/", {"table": "ledger_t_parent", "pk": pk})
    assert page.status_code == 302
    assert page["Location"] == f"/admin/ledger/entry/row/ledger_t_parent/{pk}/"
    history = text(admin_client.get(page["Location"]))
    assert history.count('class="sample history"') == 2
    assert f'data-move="{move.move_id}"' in history
    assert f'data-move="{revert.move_id}"' in history
    assert "UTC" in history
    page = text(admin_client.get("/admin/ledger/entry/row/", {"table": "main.Nope", "pk": "1"}))
    assert "unknown model &#x27;main.Nope&#x27;" in page


@pytest.mark.parametrize(
    "url",
    ["/admin/ledger/move/add/", "/admin/ledger/entry/add/", "/admin/ledger/step/add/"],
)
def test_nothing_can_be_added(db, admin_client, url):
    assert admin_client.get(url).status_code == 403


def test_moves_list_shows_the_configured_arguments_or_all_of_them(
    reviewed, admin_client, settings
):
    page = text(admin_client.get("/admin/ledger/move/"))
    for heading in ("Committed", "Reason", "Source", "Target", "Deployments", "Lineage"):
        assert f">{heading}<" in page
    assert "TICKET-12: stations filed under the wrong project" in page
    assert '<td class="field-column">[4,5]</td>' in page or ">[4,5]<" in page
    settings.LEDGER_ARGUMENT_COLUMNS = ()
    page = text(admin_client.get("/admin/ledger/move/"))
    assert ">Arguments<" in page
    assert "{&quot;deployment_ids&quot;:[4,5]" in page
