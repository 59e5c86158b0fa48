"""recording(): where it may run, steps and their counts, context, isolation between sessions."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

import ledger
from ledger.models import Move, Step
from tests.ledger import builders


@pytest.mark.django_db(transaction=True)
def test_recording_refuses_to_run_outside_atomic(committed_tables):
    with (
        pytest.raises(ledger.NotRecording, match=r"inside transaction.atomic\(\): wrap it"),
        ledger.recording(command="t", reason="r", operator="7"),
    ):
        pass  # pragma: no cover


def test_recordings_do_not_nest(tables):
    with (
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7"),
        pytest.raises(ledger.NotRecording, match="recordings do not nest"),
        ledger.recording(command="t", reason="r", operator="7"),
    ):
        pass  # pragma: no cover


def test_a_step_count_mismatch_fails_the_recording_and_rolls_it_back(seeded):
    before = builders.dump()
    with (
        pytest.raises(
            ledger.StepCountMismatch, match=r"step \[move\] expected 3 row changes but captured 10"
        ),
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7") as rec,
        rec.step("[move]", expected_rows=3, action="update"),
    ):
        builders.execute("UPDATE ledger_t_child SET name = 'moved'")
    assert builders.dump() == before
    assert not Move.objects.exists()


def test_steps_count_their_rows_and_writes_outside_steps_are_kept(seeded):
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as rec:
        assert rec.move_id is None  # given out when the move is sealed
        with rec.step("[rename]", expected_rows=10, action="update") as step:
            builders.execute("UPDATE ledger_t_child SET name = 'renamed'")
        builders.execute("UPDATE ledger_t_parent SET name = 'loose' WHERE id = 1")
        with rec.step("[count-only]"):
            builders.execute("DELETE FROM ledger_t_link WHERE id < 3")
    assert isinstance(rec.move_id, int)
    assert step.captured_rows == 10
    steps = list(Step.objects.filter(move_id=rec.move_id).values_list("label", "captured_rows"))
    assert steps == [("[rename]", 10), ("[count-only]", 2)]
    loose = [e for e in ledger.entries(rec.move_id) if e.step_id is None]
    assert [(e.table, e.pk, e.after) for e in loose] == [
        ("ledger_t_parent", "1", {"name": "loose"})
    ]


def test_written_tables_counts_the_row_changes_captured_so_far_per_table(seeded):
    with transaction.atomic():
        with ledger.recording(command="t", reason="r", operator="7") as rec:
            assert rec.written_tables() == {}
            with rec.step("[rename]"):
                builders.execute("UPDATE ledger_t_child SET name = 'renamed'")
            savepoint = transaction.savepoint()
            builders.execute("DELETE FROM ledger_t_link WHERE id < 3")
            transaction.savepoint_rollback(savepoint)  # takes its captured rows with it
            builders.execute("UPDATE ledger_t_parent SET name = 'loose' WHERE id = 1")
            assert rec.written_tables() == {"ledger_t_child": 10, "ledger_t_parent": 1}
        # Sealed, not committed yet: the same answer, from the sealed groups (a domain checks
        # last, after its seal).
        assert rec.move_id is not None
        assert rec.written_tables() == {"ledger_t_child": 10, "ledger_t_parent": 1}


def test_steps_do_not_nest_and_need_a_label(tables):
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as rec:
        with (
            pytest.raises(ledger.NotRecording, match="steps do not nest"),
            rec.step("[a]"),
            rec.step("[b]"),
        ):
            pass  # pragma: no cover
        with pytest.raises(ledger.LedgerError, match="needs a non-empty label"), rec.step(""):
            pass  # pragma: no cover
        with (
            pytest.raises(ledger.LedgerError, match="must be None or an int >= 0"),
            rec.step("[c]", expected_rows=-1),
        ):
            pass  # pragma: no cover


def test_the_move_context_reaches_pghistory_and_the_header(seeded):
    with transaction.atomic(), ledger.recording(command="t", reason="why", operator="7") as rec:
        import pghistory.runtime

        metadata = pghistory.runtime._tracker.value.metadata
        assert metadata["ledger_recording"] == rec.token
        assert metadata["ledger_operator"] == "7"
        with rec.step("[s]"):
            assert metadata["ledger_step"] == "[s]"
            # What a pghistory tracker's trigger reads: the context id and metadata GUCs.
            builders.execute(
                "UPDATE ledger_t_parent SET name = current_setting('pghistory.context_id') "
                "|| ' ' || (current_setting('pghistory.context_metadata')::jsonb->>'ledger_step')"
                " WHERE id = 1"
            )
    assert str(Move.objects.get(pk=rec.move_id).context_id) == rec.context_id
    (entry,) = ledger.entries(rec.move_id)
    assert entry.after == {"name": f"{rec.context_id} [s]"}


def test_arguments_must_be_json_and_a_revert_names_its_move(tables):
    with (
        pytest.raises(ledger.LedgerError, match="must be JSON-encodable"),
        transaction.atomic(),
        ledger.recording(command="t", reason="r", operator="7", arguments={"x": object()}),
    ):
        pass  # pragma: no cover
    with (
        pytest.raises(ledger.LedgerError, match="names the move it undoes"),
        transaction.atomic(),
        ledger.recording(kind="revert", command="t", reason="r", operator="7"),
    ):
        pass  # pragma: no cover
    with (
        pytest.raises(ledger.MoveNotFound, match="move 999 does not exist"),
        transaction.atomic(),
        ledger.recording(kind="revert", reverts=999, command="t", reason="r", operator="7"),
    ):
        pass  # pragma: no cover


def test_a_revert_is_linked_once_and_the_chain_grows(seeded):
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as first:
        builders.execute("UPDATE ledger_t_child SET name = 'a'")
    with (
        transaction.atomic(),
        ledger.recording(
            kind="revert", reverts=first.move_id, command="r", reason="undo", operator="7"
        ) as revert,
    ):
        pass
    move = Move.objects.get(pk=revert.move_id)
    assert move.reverts_id == first.move_id
    assert move.prev_digest == first.digest
    with (
        pytest.raises(ledger.LedgerError, match=f"already reverted by move {revert.move_id}"),
        transaction.atomic(),
        ledger.recording(
            kind="revert", reverts=first.move_id, command="r", reason="r", operator="7"
        ),
    ):
        pass  # pragma: no cover


@pytest.mark.django_db(transaction=True)
def test_other_sessions_write_freely_during_a_recording_and_are_never_captured(committed_tables):
    builders.seed()
    done = threading.Event()

    def write_elsewhere():
        from django.db import connections

        try:  # this thread's own connection: a second session, in autocommit
            with connections["default"].cursor() as cursor:
                cursor.execute("SET lock_timeout = '2s'")
                cursor.execute("UPDATE ledger_t_parent SET name = 'elsewhere' WHERE id = 2")
                cursor.execute("INSERT INTO ledger_t_parent (id, name) VALUES (50, 'new')")
            done.set()
        finally:
            connections.close_all()

    worker = threading.Thread(target=write_elsewhere)
    with transaction.atomic(), ledger.recording(command="t", reason="r", operator="7") as rec:
        builders.execute("UPDATE ledger_t_parent SET name = 'here' WHERE id = 1")
        worker.start()
        assert done.wait(5), "a writer of other rows of a captured table waited for the move"
    worker.join(10)
    assert [(e.pk, e.after) for e in ledger.entries(rec.move_id)] == [("1", {"name": "here"})]


def _record(name: str, pk: int, wrote: threading.Event, go: threading.Event, out: dict) -> None:
    """In its own connection: record an update of child ``pk``, pausing before sealing."""
    from django.db import connections

    try:
        with transaction.atomic(), ledger.recording(command=name, reason="r", operator="1") as rec:
            builders.execute("UPDATE ledger_t_child SET name = %s WHERE id = %s", [name, pk])
            wrote.set()
            assert go.wait(10)
        out[name] = rec
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_recordings_in_two_sessions_run_side_by_side_and_seal_in_turn(committed_tables):
    builders.seed()
    done: dict = {}
    a_wrote, b_wrote, a_go, b_go = (threading.Event() for _ in range(4))
    a = threading.Thread(target=_record, args=("a", 1, a_wrote, a_go, done))
    b = threading.Thread(target=_record, args=("b", 2, b_wrote, b_go, done))
    a.start()
    assert a_wrote.wait(10)
    b.start()
    assert b_wrote.wait(10), "a second recording waited for the first one"
    b_go.set()
    b.join(10)
    a_go.set()
    a.join(10)
    first, second = done["b"], done["a"]
    assert [e.pk for e in ledger.entries(second.move_id)] == ["1"]
    assert [e.pk for e in ledger.entries(first.move_id)] == ["2"]
    assert (first.move_id, second.move_id) == (1, 2)
    assert Move.objects.get(pk=second.move_id).prev_digest == first.digest
    assert ledger.verify().ok


def test_who_and_why_defaults_the_operator_to_the_login_and_strips(monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "ana")
    assert ledger.who_and_why(None, " why ", executing=True) == ("ana", "why")
    assert ledger.who_and_why("  ", "", executing=False) == ("ana", "")
    assert ledger.who_and_why(" 7 ", "why", executing=True) == ("7", "why")


def test_who_and_why_falls_back_to_unknown_without_a_login(monkeypatch):
    def no_login() -> str:
        raise OSError("no login")

    monkeypatch.setattr("getpass.getuser", no_login)
    assert ledger.who_and_why(None, "", executing=False) == ("unknown", "")
    assert ledger.default_operator() == "unknown"


@pytest.mark.parametrize("executing", [True, False])
def test_who_and_why_refuses_an_email_dry_run_or_not(executing):
    with pytest.raises(ledger.LedgerError, match=r"--operator looks like an e-mail address"):
        ledger.who_and_why("ana@example.org", "why", executing=executing)


@pytest.mark.parametrize("executing", [True, False])
@pytest.mark.parametrize("reason", ["asked by ana@example.org", "TICKET-9 (bo.li@lab.example.ca)"])
def test_a_reason_holding_an_email_is_refused_dry_run_or_not(executing, reason):
    with pytest.raises(ledger.LedgerError, match=r"--reason holds an e-mail address: name people"):
        ledger.who_and_why("7", reason, executing=executing)
    with pytest.raises(ledger.LedgerError, match=r"--reason holds an e-mail address"):
        ledger.check_who_and_why("7", reason)


@pytest.mark.parametrize("reason", ["TICKET-9: meet @ 10:00", "user 12 asked", "a@b"])
def test_a_reason_with_an_at_sign_but_no_address_is_kept(reason):
    assert ledger.who_and_why("7", reason, executing=True) == ("7", reason)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_who_and_why_needs_a_reason_to_execute_only(reason):
    with pytest.raises(ledger.LedgerError, match=r'--execute needs --reason "why" \(it is stored'):
        ledger.who_and_why("7", reason, executing=True)
    assert ledger.who_and_why("7", reason, executing=False) == ("7", "")
