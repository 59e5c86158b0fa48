"""Completeness as a law: replaying a move's entries over the rows before it gives the rows after.

Every write inside a recording (ORM saves, bulk updates, raw SQL, M2M link and unlink,
cascades, SET NULL, primary key changes) is in the ledger; nothing outside a recording is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger
from ledger.capture import server_has_lz4
from tests.ledger import builders

SECRETS = {"ledger_t_child": ("secret",), "auth_group": ()}


def keyed(value: str) -> str:
    """The fingerprint the ledger keeps of a secret: HMAC-SHA256 under the tests' key."""
    key = bytes.fromhex(os.environ["AMI_TEST_FINGERPRINT_KEY"])
    return "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def fingerprint(rows: dict) -> dict:
    """Replace secret values by the fingerprints the ledger keeps."""
    out = {}
    for (table, pk), row in rows.items():
        row = dict(row)
        for column in SECRETS.get(table, ()):
            if row.get(column) is not None:
                row[column] = keyed(str(row[column]))
        out[(table, pk)] = row
    return out


def replay(before: dict, entries: list[ledger.EntryPayload]) -> dict:
    """Apply entries in order, checking each one's before values against the state it changes."""
    state = {key: dict(row) for key, row in before.items()}
    for entry in entries:
        key = (entry.table, entry.pk)
        if entry.op == "I":
            assert key not in state, f"entry {entry.id} inserts an existing row"
            state[key] = dict(entry.after)
        elif entry.op == "D":
            assert state.pop(key) == entry.before, f"entry {entry.id} deleted another row"
        else:
            row = state[key]
            assert entry.before.keys() == entry.after.keys()
            assert entry.before != entry.after, f"entry {entry.id} changes nothing"
            for column, value in entry.before.items():
                assert row[column] == value, f"entry {entry.id}: {column} was not {value!r}"
            row.update(entry.after)
    return state


def assert_law(tables, before: dict, rec) -> list[ledger.EntryPayload]:
    after = fingerprint(builders.dump(tables))
    entries = list(ledger.entries(rec.move_id))
    assert replay(fingerprint(before), entries) == after
    assert {e.table for e in entries} <= set(tables)
    return entries


def record(work, expected=None):
    with (
        transaction.atomic(),
        ledger.recording(command="test", reason="law", operator="7") as rec,
        rec.step("[work]", expected_rows=expected, action="mixed"),
        connection.cursor() as cursor,
    ):
        work(cursor)
    return rec


def test_raw_bulk_cascade_and_set_null_writes_replay_exactly(seeded):
    before = builders.dump()

    def work(cursor):
        cursor.execute(
            "UPDATE ledger_t_child SET parent_id = (SELECT max(id) FROM ledger_t_parent)"
        )
        cursor.execute("UPDATE ledger_t_child SET secret = 'rotated', score = NULL WHERE id < 4")
        cursor.execute("INSERT INTO ledger_t_parent (name) VALUES ('new')")
        cursor.execute("DELETE FROM ledger_t_parent WHERE name = 'p1'")  # cascades to links
        cursor.execute("DELETE FROM ledger_t_child WHERE id = 5")  # SET NULL on its note
        cursor.execute("UPDATE ledger_t_note SET code = 'renamed' WHERE code = 'n2'")  # pk change
        cursor.execute("UPDATE ledger_t_note SET body = body")  # changes nothing

    entries = assert_law(builders.TABLES, before, record(work))
    ops = {(e.table, e.op) for e in entries}
    assert ("ledger_t_link", "D") in ops  # the cascade
    assert ("ledger_t_note", "D") in ops  # the key change: a delete...
    assert ("ledger_t_note", "I") in ops  # ...and an insert
    note_updates = [e for e in entries if e.table == "ledger_t_note" and e.op == "U"]
    assert [e.after for e in note_updates] == [{"child_id": None}]  # SET NULL only


def test_orm_saves_and_m2m_through_table_are_captured(db):
    # The domain may have registered these already: put the registry back as it was after.
    was = {spec.table: spec for spec in ledger.registered_tables()}
    ledger.register_table("auth_group", label="auth.Group")
    ledger.register_table("auth_group_permissions", label="auth.Group_permissions")
    try:
        group = Group.objects.create(name="reviewers")
        perms = list(Permission.objects.order_by("id")[:3])
        group.permissions.add(perms[0])
        tables = ("auth_group", "auth_group_permissions")
        before = _dump_auth()
        with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as rec:
            group.name = "auditors"
            group.save()
            group.permissions.add(perms[1], perms[2])
            group.permissions.remove(perms[0])
            Group.objects.filter(pk=group.pk).update(name="auditors-2")
            Group.objects.create(name="other")
        after = _dump_auth()
        entries = list(ledger.entries(rec.move_id))
        assert replay(before, entries) == after
        assert {e.table for e in entries} == set(tables)
    finally:
        for table in ("auth_group", "auth_group_permissions"):
            ledger.unregister_table(table)
            if table in was:
                spec = was[table]
                ledger.register_table(
                    table,
                    pk=spec.pk,
                    secret_columns=spec.secret_columns,
                    label=spec.label,
                    replay=spec.replay,
                )


def _dump_auth():
    rows = {}
    with connection.cursor() as cursor:
        for table in ("auth_group", "auth_group_permissions"):
            cursor.execute(f"SELECT id::text, to_jsonb(t)::text FROM {table} t")
            rows.update(
                {
                    (table, pk): json.loads(row, parse_float=Decimal)
                    for pk, row in cursor.fetchall()
                }
            )
    return rows


def test_secret_columns_are_kept_as_fingerprints_only(seeded):
    rec = record(lambda c: c.execute("UPDATE ledger_t_child SET secret = 'top' WHERE id = 1"))
    (entry,) = ledger.entries(rec.move_id)
    assert entry.after == {"secret": keyed("top")}
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM ledger_change WHERE before::text ~ 's3cret|top'")
        assert cursor.fetchone()[0] == 0


def test_rows_sharing_a_change_are_stored_as_one_group(seeded):
    def work(cursor):
        cursor.execute("UPDATE ledger_t_child SET name = 'same'")

    rec = record(work)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), sum(row_count) FROM ledger_change WHERE move_id = %s", [rec.move_id]
        )
        groups, rows = cursor.fetchone()
    assert rows == 10
    assert groups == 10  # every name differed before, so every group holds one row
    rec = record(work)  # nothing changes now
    assert rec.entry_count == 0
    rec = record(lambda c: c.execute("UPDATE ledger_t_child SET name = 'other'"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT row_count, pks FROM ledger_change WHERE move_id = %s", [rec.move_id]
        )
        ((count, pks),) = cursor.fetchall()
    assert count == 10
    assert sorted(pks, key=int) == [str(i) for i in range(1, 11)]


def test_a_large_groups_keys_are_kept_lz4_compressed_where_the_server_has_it(seeded):
    with connection.cursor() as cursor:
        lz4 = server_has_lz4(cursor)
    if not lz4:
        pytest.skip("this server has no lz4: the keys are compressed as every other value")
    builders.execute(
        "INSERT INTO ledger_t_child (name) SELECT 'same' FROM generate_series(1, 5000)"
    )
    rec = record(lambda c: c.execute("UPDATE ledger_t_child SET name = 'one'"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT row_count, pg_column_compression(pks) FROM ledger_change "
            "WHERE move_id = %s AND row_count > 1",
            [rec.move_id],
        )
        assert cursor.fetchall() == [(5000, "lz4")]
    # Read back whole (the law checks every key against the rows).
    assert ledger.verify(rec.move_id).ok


def test_writes_outside_a_recording_are_not_captured(seeded):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_t_child SET name = 'outside'")
        cursor.execute("SELECT count(*) FROM ledger_change")
        assert cursor.fetchone()[0] == 0
    rec = record(lambda c: c.execute("UPDATE ledger_t_child SET name = 'in' WHERE id = 1"))
    with connection.cursor() as cursor:
        # The triggers are still installed in this transaction, and silent outside the
        # recording: were they to fire, they would fail on the staging table sealing dropped.
        cursor.execute("UPDATE ledger_t_child SET name = 'after'")
    assert rec.entry_count == 1
    assert [e.pk for e in ledger.entries(rec.move_id)] == ["1"]


def test_truncate_of_a_registered_table_inside_a_recording_is_refused(seeded):
    with pytest.raises(Exception, match="TRUNCATE of ledger_t_note cannot be captured"):
        record(lambda c: c.execute("TRUNCATE ledger_t_note"))


def test_a_registered_table_that_does_not_exist_fails_before_any_write(db):
    ledger.register_table("no_such_table")
    try:
        with (
            pytest.raises(ledger.RegistryError, match="no_such_table does not exist"),
            transaction.atomic(),
            ledger.recording(command="t", reason="r", operator="7"),
        ):
            pass  # pragma: no cover
    finally:
        ledger.unregister_table("no_such_table")


_OPS = st.sampled_from(
    [
        "UPDATE ledger_t_child SET parent_id = (SELECT max(id) FROM ledger_t_parent) "
        "WHERE id %% 2 = 0",
        "UPDATE ledger_t_child SET parent_id = (SELECT min(id) FROM ledger_t_parent), name = 'x'",
        "UPDATE ledger_t_child SET secret = md5(random()::text) WHERE id %% 3 = 0",
        "UPDATE ledger_t_child SET tags = NULL WHERE id < 5",
        "UPDATE ledger_t_child SET score = score WHERE id < 5",
        "INSERT INTO ledger_t_parent (name) VALUES ('q')",
        "INSERT INTO ledger_t_child (parent_id, name) SELECT max(id), 'new' FROM ledger_t_parent",
        "DELETE FROM ledger_t_parent WHERE id = (SELECT min(id) FROM ledger_t_parent)",
        "DELETE FROM ledger_t_child WHERE id = (SELECT max(id) FROM ledger_t_child)",
        "INSERT INTO ledger_t_link (parent_id, child_id) SELECT p.id, c.id FROM ledger_t_parent p "
        "CROSS JOIN ledger_t_child c ON CONFLICT DO NOTHING",
        "DELETE FROM ledger_t_link WHERE id %% 2 = 1",
        "UPDATE ledger_t_note SET code = code || 'x' WHERE child_id IS NOT NULL",
        "UPDATE ledger_t_note SET body = 'b' || length(code)",
    ]
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(statements=st.lists(_OPS, min_size=1, max_size=6))
def test_any_sequence_of_writes_replays_exactly(seeded, statements):
    with transaction.atomic():
        before = builders.dump()

        def work(cursor):
            for statement in statements:
                cursor.execute(statement)

        assert_law(builders.TABLES, before, record(work))
        transaction.set_rollback(True)


def test_a_mixed_case_table_name_is_captured(db):
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE "Ledger_T_Mixed" (id bigint PRIMARY KEY, "Name" text)')
        cursor.execute("""INSERT INTO "Ledger_T_Mixed" VALUES (1, 'a')""")
    ledger.register_table("Ledger_T_Mixed")
    try:
        rec = record(lambda c: c.execute("""UPDATE "Ledger_T_Mixed" SET "Name" = 'b'"""))
    finally:
        ledger.unregister_table("Ledger_T_Mixed")
    (entry,) = ledger.entries(rec.move_id)
    assert (entry.table, entry.pk, entry.before, entry.after) == (
        "Ledger_T_Mixed",
        "1",
        {"Name": "a"},
        {"Name": "b"},
    )
