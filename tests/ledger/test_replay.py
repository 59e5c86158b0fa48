"""The replay (``ledger.revert``) on a schema of the ledger tests' own (``toyapp``: FKs, an
M2M, cascades, a composite unique key), with no Antenna model: the completeness law (a move
then its revert leaves every table as it was), revert of a revert, drift and re-insert
conflicts, and the dry run."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

import ledger
from ledger.replay import Conflict, StepDone
from ledger.replay.report import render_conflicts
from ledger.replay.scan import column_types
from tests.ledger.toyapp.models import TABLES, Book, Owner, Shelf
from tests.ledger.toyworld import dump, reorganise, undo


def test_a_move_then_its_revert_leaves_every_table_as_it_was(toy):
    before = dump()
    rec = reorganise(toy)
    after = dump()
    assert after != before
    assert all(after[table] != before[table] for table, _ in TABLES)
    report = undo(rec.move_id)
    assert report.ok
    assert dump() == before
    header, _ = ledger.read_header(report.revert_move_id)
    assert (header.kind, header.reverts_id) == ("revert", rec.move_id)
    assert header.subjects == {"owner": 1}
    assert ledger.verify().ok


def _revert_of_revert(world) -> None:
    rec = reorganise(world)
    moved = dump()
    first = undo(rec.move_id)
    again = undo(first.revert_move_id)
    assert again.ok
    assert dump() == moved
    with pytest.raises(ledger.LedgerError, match=rf"move {rec.move_id} was already reverted"):
        undo(rec.move_id)
    assert ledger.verify().ok


def test_the_revert_of_a_revert_makes_the_move_again_with_no_other_domains_hooks(toy):
    # Every revert is recorded as command "revert_move", and this project's domain registers
    # hooks for its own moves: a revert's hooks are those of the move its chain started from.
    _revert_of_revert(toy)


def test_a_dry_run_plans_every_table_and_changes_nothing(toy):
    rec = reorganise(toy)
    moved = dump()
    report = ledger.revert(rec.move_id, execute=False, reason="undo", operator="8")
    assert not report.executed
    assert report.ok
    assert {t.table for t in report.plan.tables} == {table for table, _ in TABLES}
    assert dump() == moved
    assert (
        [m.kind for m in ledger.list_moves()] == ["move"]
        if hasattr(ledger, "list_moves")
        else True
    )


def test_a_row_changed_since_the_move_is_a_drift_conflict_and_nothing_is_reverted(toy):
    rec = reorganise(toy)
    book = Book.objects.filter(shelf=toy["b1"]).first()
    Book.objects.filter(pk=book.pk).update(price=5)
    drifted = dump()
    with pytest.raises(ledger.ReplayConflict) as refused:
        undo(rec.move_id)
    kinds = {c.kind: c for c in refused.value.report.plan.conflicts}
    assert "drift" in kinds
    assert kinds["drift"].table == "toyapp_book"
    assert str(book.pk) in kinds["drift"].sample
    assert dump() == drifted
    # Skipping the drifted row reverts everything else and leaves it as it is now.
    report = undo(rec.move_id, skip_drifted=True)
    assert report.ok
    assert Book.objects.get(pk=book.pk).price == 5
    assert [c.kind for c in report.skipped] == ["drift"]


def test_a_deleted_row_whose_unique_key_was_taken_since_is_not_reinserted(toy):
    rec = reorganise(toy)
    # The dropped shelf was ana's "one" after the swap; a new shelf takes (ana, "one").
    Shelf.objects.create(owner=toy["ana"], name="one")
    taken = dump()
    # Refused as a whole, nothing half-reverted: the composite key's clash is a planned conflict.
    with pytest.raises(
        ledger.ReplayConflict, match=r"toyapp_shelf .* clash on the unique key \(owner_id, name\)"
    ):
        undo(rec.move_id)
    assert dump() == taken


class _BreaksARestoredRow(ledger.ReplayHooks):
    """A domain whose recount writes over a row the replay has just restored."""

    def __init__(self, book_id: int) -> None:
        self.book_id = book_id

    def refresh(self, move, policy, rec) -> None:
        with rec.step("[recount]", action="update"):
            Book.objects.filter(pk=self.book_id).update(price=7)


def test_a_row_not_holding_its_before_values_after_the_replay_refuses_the_revert(toy, monkeypatch):
    import ledger.replay.hooks

    book = Book.objects.filter(shelf=toy["a1"]).order_by("pk").first()
    rec = reorganise(toy)
    monkeypatch.setitem(ledger.replay.hooks._hooks, "reorganise", _BreaksARestoredRow(book.pk))
    moved = dump()
    with pytest.raises(
        ledger.ReplayConflict,
        match=r"1 row\(s\) of toyapp_book that the move updated do not hold their "
        r"before-values after the replay",
    ):
        undo(rec.move_id)
    assert dump() == moved


def test_rows_are_compared_per_column_only_where_one_changed_twice_or_differs(toy, monkeypatch):
    """Each update group's rows are screened against its own before-values; the exact check
    (the first change per row and column) runs only where the screen finds a row: here the
    shelf renamed twice in one move (its second rename's before is not the first's)."""
    from ledger.replay import exact

    exactly: list[str] = []
    real = exact._updated_rows_exactly

    def spy(cursor, move_id, shape):
        exactly.append(shape.table)
        return real(cursor, move_id, shape)

    monkeypatch.setattr(exact, "_updated_rows_exactly", spy)
    before = dump()
    rec = reorganise(toy)
    assert undo(rec.move_id).ok
    assert dump() == before
    assert exactly == ["toyapp_shelf"]


def _update_keys_loaded(monkeypatch) -> list[int]:
    """The moves whose updated keys are copied into ``ledger_replay_keys``, from now on."""
    from ledger.replay import scan

    loaded: list[int] = []
    real = scan.load_update_keys

    def spy(cursor, move_id):
        loaded.append(move_id)
        real(cursor, move_id)
        cursor.execute("SELECT count(*) FROM pg_temp.ledger_replay_keys WHERE op = 'U'")
        assert cursor.fetchone()[0] > 0

    monkeypatch.setattr(scan, "load_update_keys", spy)
    return loaded


def test_a_plain_revert_copies_only_the_keys_the_move_inserted_and_deleted(toy, monkeypatch):
    from ledger.replay import apply

    repeats: list[str] = []
    real = apply._rows_repeat
    monkeypatch.setattr(
        apply,
        "_rows_repeat",
        lambda cursor, params: repeats.append(params["table"]) or real(cursor, params),
    )
    loaded = _update_keys_loaded(monkeypatch)
    before = dump()
    rec = reorganise(toy)
    assert undo(rec.move_id).ok
    assert dump() == before
    assert loaded == []  # never the updated rows, the bulk of a move
    # Only a unit of several change groups is searched for a row in two of them.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, count(*) > 1 FROM ledger_change WHERE move_id = %s AND op = 'U' "
            "GROUP BY step_id, table_name",
            [rec.move_id],
        )
        units = cursor.fetchall()
    assert sorted(repeats) == sorted(table for table, several in units if several)
    assert len(repeats) < len(units)


def test_a_later_move_brings_in_the_keys_the_move_updated(toy, monkeypatch):
    loaded = _update_keys_loaded(monkeypatch)
    rec = reorganise(toy)
    with (
        transaction.atomic(),
        ledger.recording(command="reorganise", reason="again", operator="7") as later,
        later.step("[rename]", action="update"),
    ):
        Owner.objects.filter(pk=toy["bob"].pk).update(name="bobby")
    with pytest.raises(ledger.ReplayConflict, match=rf"revert_move {later.move_id}"):
        undo(rec.move_id)
    assert loaded
    assert set(loaded) == {rec.move_id}


def _drift_scans(monkeypatch) -> list[str]:
    """The tables ``find_update_drift`` is called for, from now on."""
    from ledger.replay import scan

    scanned: list[str] = []
    real = scan.find_update_drift

    def counted(cursor, move_id, shape):
        scanned.append(shape.table)
        real(cursor, move_id, shape)

    monkeypatch.setattr(scan, "find_update_drift", counted)
    return scanned


def test_a_revert_that_finds_nothing_never_scans_for_drift(toy, monkeypatch):
    before = dump()
    rec = reorganise(toy)
    scanned, phases = _drift_scans(monkeypatch), []
    report = ledger.revert(
        rec.move_id, execute=True, reason="undo", operator="8", on_phase=phases.append
    )
    assert report.ok
    assert dump() == before
    assert scanned == []
    assert phases.count("replaying") == 1
    # The plan printed before the replay does not claim what was not scanned.
    assert not report.plan.drift_scanned
    lines = [text for _style, text in render_conflicts(report.plan, ())]
    assert lines == [
        "No conflicts before the replay. Drift is found by the replay itself: if a row "
        "changed since the move, the replay is rolled back and every column scanned."
    ]


def test_drift_the_replay_finds_runs_the_revert_again_with_the_scans_and_is_named(
    toy, monkeypatch
):
    rec = reorganise(toy)
    book = Book.objects.filter(shelf=toy["b1"]).first()
    Book.objects.filter(pk=book.pk).update(price=5)
    drifted = dump()
    scanned, phases = _drift_scans(monkeypatch), []
    with pytest.raises(
        ledger.ReplayConflict, match=r"1 row\(s\) of toyapp_book changed since in column price"
    ):
        ledger.revert(
            rec.move_id, execute=True, reason="undo", operator="8", on_phase=phases.append
        )
    assert dump() == drifted
    assert "toyapp_book" in scanned
    # The replay without scans was rolled back; the second run refused before replaying.
    assert phases.count("replaying") == 1
    assert "rows changed since the move: scanning them column by column" in phases
    rehearsal = ledger.revert(rec.move_id, execute=False, reason="undo", operator="8")
    assert not rehearsal.ok
    assert rehearsal.plan.drift_scanned
    assert [c.kind for c in rehearsal.plan.blocking()] == ["drift"]
    assert dump() == drifted


@pytest.mark.django_db(transaction=True)
def test_the_move_is_verified_on_a_connection_of_its_own_and_a_tampered_one_refuses(
    toy, monkeypatch
):
    import threading

    from ledger.replay import engine

    rec = reorganise(toy)
    readers: list[tuple[str, int]] = []
    real = engine.verify

    def watched(move_id, using="default"):
        with connection.cursor() as cursor:  # this thread's connection
            cursor.execute("SELECT pg_backend_pid()")
            readers.append((threading.current_thread().name, cursor.fetchone()[0]))
        return real(move_id, using)

    monkeypatch.setattr(engine, "verify", watched)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own = cursor.fetchone()[0]
        cursor.execute("ALTER TABLE ledger_change DISABLE TRIGGER USER")
        cursor.execute(
            'UPDATE ledger_change SET after = \'{"price": "0.01"}\' WHERE id = (SELECT min(id) '
            "FROM ledger_change WHERE move_id = %s AND op = 'U')",
            [rec.move_id],
        )
        cursor.execute("ALTER TABLE ledger_change ENABLE TRIGGER USER")
    tampered = dump()
    with pytest.raises(ledger.ReplayConflict, match=rf"the ledger of move {rec.move_id} does not"):
        undo(rec.move_id)
    assert dump() == tampered
    [(thread, pid)] = readers
    assert thread.startswith("ledger-verify")
    assert pid != own


@pytest.mark.django_db(transaction=True)
def test_a_verification_apart_that_cannot_connect_is_done_on_the_reverts_connection(
    toy, monkeypatch, caplog
):
    from django.db import OperationalError

    from ledger import apart

    def refused(read, using):
        raise OperationalError("too many connections for role")

    monkeypatch.setattr(apart, "_on_own_connection", refused)
    before = dump()
    rec = reorganise(toy)
    report = undo(rec.move_id)
    assert report.ok
    assert dump() == before
    assert "verifying it on the revert's" in caplog.text
    assert "scanning on the revert's" in caplog.text


class _ScansForNewData(ledger.ReplayHooks):
    """A domain whose scans say where they ran, and may find a row written since the move.
    Apart, they end only once the replay has started (``released``), as slow scans would."""

    def __init__(self, finds: bool, lag: float = 0.0, loses: bool = False) -> None:
        self.finds = finds
        self.lag = lag
        self.loses = loses
        self.ran: list[tuple[str, int]] = []
        self.released = threading.Event()
        # The revert's own connection as it replays, and when it runs again (it is closed
        # once the revert ends).
        self.replay_pid: int | None = None
        self.rerun_pid: int | None = None

    def conflicts(self, move, policy):
        thread = threading.current_thread().name
        if thread.startswith("ledger-scan"):
            assert self.released.wait(30)
            time.sleep(self.lag)
            if self.loses:
                raise OperationalError("server closed the connection unexpectedly")
        with connection.cursor() as cursor:  # this thread's connection
            cursor.execute("SELECT pg_backend_pid()")
            self.ran.append((thread, cursor.fetchone()[0]))
        if not self.finds:
            return []
        return [
            Conflict(kind="new-data", table="toyapp_book", count=1, message="a book written since")
        ]

    def phase(self, phases: list[str]):
        def seen(name: str) -> None:
            phases.append(name)
            if name == "replaying":
                self.replay_pid = _backend_pid()
                self.released.set()
            if "scanning everything first" in name:
                self.rerun_pid = _backend_pid()

        return seen

    def step(self, label: str):
        def seen(done: StepDone) -> None:
            if done.label == label:
                self.released.set()

        return seen


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_the_domains_scans_run_beside_the_replay_on_a_connection_of_their_own(toy, monkeypatch):
    import ledger.replay.hooks

    hooks = _ScansForNewData(finds=False)
    monkeypatch.setitem(ledger.replay.hooks._hooks, "reorganise", hooks)
    before = dump()
    rec = reorganise(toy)
    plans, phases = [], []
    report = ledger.revert(
        rec.move_id,
        execute=True,
        reason="undo",
        operator="8",
        on_plan=plans.append,
        on_phase=hooks.phase(phases),
    )
    assert report.executed
    assert dump() == before
    [(thread, pid)] = hooks.ran
    assert thread.startswith("ledger-scan")
    assert hooks.replay_pid not in (None, pid)
    assert phases.count("replaying") == 1
    # The plan printed before the replay says the scans were still running; the report after
    # it, that they ended having found nothing.
    [plan] = plans
    assert not plan.domain_scanned
    assert [text for _style, text in render_conflicts(plan, ())] == [
        "No conflicts before the replay. The scans for rows written since the move run "
        "beside it, and drift is found by the replay itself: if either finds anything, the "
        "replay is rolled back and everything is scanned first."
    ]
    assert report.plan.domain_scanned


@pytest.mark.django_db(transaction=True)
def test_new_data_the_scans_beside_the_replay_find_runs_the_revert_again_and_refuses(
    toy, monkeypatch
):
    import ledger.replay.hooks

    hooks = _ScansForNewData(finds=True)
    monkeypatch.setitem(ledger.replay.hooks._hooks, "reorganise", hooks)
    rec = reorganise(toy)
    moved, phases = dump(), []
    with pytest.raises(ledger.ReplayConflict, match=r"- a book written since"):
        ledger.revert(
            rec.move_id, execute=True, reason="undo", operator="8", on_phase=hooks.phase(phases)
        )
    assert dump() == moved
    # The first run replayed, was rolled back, and the second refused before replaying, its
    # scans on the revert's own connection.
    assert phases.count("replaying") == 1
    assert "rows written since the move found beside the replay: scanning everything first" in (
        phases
    )
    (first, _), (second, pid) = hooks.ran
    assert first.startswith("ledger-scan")
    assert not second.startswith("ledger-")
    assert hooks.rerun_pid is not None
    assert pid == hooks.rerun_pid


@pytest.mark.django_db(transaction=True)
def test_scans_still_running_after_the_last_step_are_waited_for_before_anything_else(
    toy, monkeypatch
):
    import ledger.replay.hooks

    # Released as the move's first step, replayed last, ends; they end a little later.
    hooks = _ScansForNewData(finds=True, lag=0.3)
    monkeypatch.setitem(ledger.replay.hooks._hooks, "reorganise", hooks)
    rec = reorganise(toy)
    moved, phases = dump(), []
    with pytest.raises(ledger.ReplayConflict, match=r"- a book written since"):
        ledger.revert(
            rec.move_id,
            execute=True,
            reason="undo",
            operator="8",
            on_phase=phases.append,
            on_step=hooks.step("[move-books]"),
        )
    assert dump() == moved
    assert "recounting" not in phases


@pytest.mark.django_db(transaction=True)
def test_scans_beside_the_replay_that_lose_their_connection_run_the_revert_again_first(
    toy, monkeypatch, caplog
):
    import ledger.replay.hooks

    hooks = _ScansForNewData(finds=False, loses=True)
    monkeypatch.setitem(ledger.replay.hooks._hooks, "reorganise", hooks)
    before = dump()
    rec = reorganise(toy)
    phases: list[str] = []
    report = ledger.revert(
        rec.move_id, execute=True, reason="undo", operator="8", on_phase=hooks.phase(phases)
    )
    assert report.executed
    assert dump() == before
    # Never on the revert's own connection once it has written: the second run scans first.
    assert "the scans beside the replay lost their connection: scanning everything first" in (
        phases
    )
    [(thread, pid)] = hooks.ran
    assert not thread.startswith("ledger-")
    assert hooks.rerun_pid is not None
    assert pid == hooks.rerun_pid
    assert phases.count("replaying") == 2  # the first run's, rolled back; the second's
    assert "running it again, scanning first on the revert's connection" in caplog.text


def test_the_schema_check_reads_tables_as_the_capture_names_them(db):
    with connection.cursor() as cursor:
        cursor.execute('CREATE TABLE "Ledger_T_Mixed" (id bigint PRIMARY KEY, "Name" text)')
        live = column_types(cursor, ["Ledger_T_Mixed", "ledger_t_gone"])
    assert live == {"Ledger_T_Mixed": {"id": "bigint", "Name": "text"}, "ledger_t_gone": {}}


def test_the_replays_key_and_reference_lookups_find_a_mixed_case_table(db):
    from ledger.replay.scan import TEMP_TABLES, dependents, unique_keys

    with connection.cursor() as cursor:
        cursor.execute(
            'CREATE TABLE "Ledger_T_Parent" (id bigint PRIMARY KEY, "Code" text UNIQUE);'
            'CREATE TABLE "Ledger_T_Child" (id bigint PRIMARY KEY, '
            '"Parent_id" bigint REFERENCES "Ledger_T_Parent");'
            "INSERT INTO \"Ledger_T_Parent\" VALUES (7, 'a');"
            'INSERT INTO "Ledger_T_Child" VALUES (1, 7), (2, 7);'
        )
        cursor.execute(TEMP_TABLES, {"move": -1})
        cursor.execute(
            "INSERT INTO pg_temp.ledger_replay_keys VALUES ('Ledger_T_Parent', 'I', '7', 1)"
        )
        assert unique_keys(cursor, "Ledger_T_Parent") == [("Ledger_T_Parent_Code_key", ["Code"])]
        [conflict] = dependents(cursor, -1, "Ledger_T_Parent")
    assert (conflict.kind, conflict.table, conflict.count) == ("dependent", '"Ledger_T_Child"', 2)
    assert conflict.sample == ("1", "2")
