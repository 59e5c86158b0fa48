"""The seal checks the transaction's deferred constraints while it hashes (what the commit
would do after it): a deferred trigger's writes happen inside the recording, so they are in
the move; a violation is left for the commit to raise, as before, and nothing is committed."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

import ledger
from ledger.models import Move
from tests.ledger import builders


@pytest.mark.django_db(transaction=True)
def test_a_deferred_foreign_key_that_does_not_hold_fails_the_commit_not_the_seal(
    committed_tables,
):
    builders.seed()
    builders.execute(
        "CREATE TABLE ledger_t_loose (id bigserial PRIMARY KEY, parent_id bigint "
        "REFERENCES ledger_t_parent(id) DEFERRABLE INITIALLY DEFERRED)"
    )
    sealed: list[str | None] = []

    def dangling() -> None:
        with transaction.atomic():
            with ledger.recording(command="t", reason="r", operator="7") as rec:
                builders.execute("UPDATE ledger_t_child SET name = 'sealed?'")
                builders.execute("INSERT INTO ledger_t_loose (parent_id) VALUES (-1)")
            # The seal says what the commit will refuse (a revert refuses on it first).
            sealed.append(rec.constraint_violation)

    try:
        with pytest.raises(IntegrityError, match="ledger_t_loose_parent_id_fkey"):
            dangling()
        [violation] = sealed  # the seal itself went through: the commit refused
        assert violation is not None
        assert "ledger_t_loose_parent_id_fkey" in violation
        assert not Move.objects.exists()
        assert not ledger_t_child_renamed()
    finally:
        builders.execute("DROP TABLE ledger_t_loose")


def ledger_t_child_renamed() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM ledger_t_child WHERE name = 'sealed?')")
        return bool(cursor.fetchone()[0])


def test_writes_of_a_deferred_trigger_are_recorded_in_the_move(seeded):
    """Fired at the seal, inside the recording: before, they ran at commit, unrecorded."""
    builders.execute(
        "CREATE FUNCTION pg_temp.ledger_t_touch() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN UPDATE ledger_t_parent SET name = name || '+' WHERE id = NEW.parent_id; "
        "RETURN NULL; END $$"
    )
    builders.execute(
        "CREATE CONSTRAINT TRIGGER ledger_t_touch AFTER UPDATE ON ledger_t_child "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.ledger_t_touch()"
    )
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        rec.step("[rename]", expected_rows=1, action="update"),
    ):
        builders.execute(
            "UPDATE ledger_t_child SET name = 'renamed' "
            "WHERE id = (SELECT min(id) FROM ledger_t_child)"
        )
    entries = [(e.table, e.op, e.step_id is None) for e in ledger.entries(rec.move_id)]
    assert entries == [("ledger_t_child", "U", False), ("ledger_t_parent", "U", True)]
    assert rec.constraint_violation is None
    assert ledger.verify(rec.move_id).ok


def test_deferred_constraints_are_deferred_again_after_the_seal(seeded):
    builders.execute(
        "CREATE TABLE ledger_t_loose (id bigserial PRIMARY KEY, parent_id bigint "
        "REFERENCES ledger_t_parent(id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with transaction.atomic():
        with ledger.recording(command="t", reason="r", operator="7"):
            builders.execute("UPDATE ledger_t_child SET name = 'sealed'")
        # After the seal, in the same transaction: checked at commit again, not at once.
        builders.execute("INSERT INTO ledger_t_loose (parent_id) VALUES (-1)")
        builders.execute("DELETE FROM ledger_t_loose")
    assert Move.objects.count() == 1
