"""ledger.races: lost races told apart by SQLSTATE (real server errors), anything else left
alone; the move and the revert say the same thing about them."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from ami.move.apply import _lost_race
from ledger import races
from ledger.errors import Interrupted

pytestmark = pytest.mark.django_db


def server_error(errcode: str) -> DatabaseError:
    """The error the server raises with that condition name (rolled back to a savepoint)."""
    with (
        pytest.raises(DatabaseError) as raised,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f"DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '{errcode}'; END $$"
        )
    return raised.value


@pytest.mark.parametrize(
    ("errcode", "cause"),
    [
        ("deadlock_detected", "deadlock"),
        ("lock_not_available", "lock timeout"),
        ("serialization_failure", "serialization failure"),
        ("query_canceled", "cancelled"),
        ("admin_shutdown", "connection lost"),
        ("connection_failure", "connection lost"),
    ],
)
def test_a_lost_race_is_one_interrupted_that_says_nothing_changed(errcode, cause):
    exc = server_error(errcode)
    assert races.cause(exc) == cause
    lost = races.interrupted(exc, "revert", lock_timeout=2)
    assert isinstance(lost, Interrupted)
    assert lost.cause == cause
    assert str(lost).startswith(
        f"the revert was interrupted ({cause}) and rolled back: nothing was changed; run it again"
    )
    assert ("--lock-timeout 2 s" in str(lost)) == (cause == "lock timeout")
    assert "nothing was changed" in str(_lost_race(exc, 2))


@pytest.mark.parametrize("errcode", ["unique_violation", "division_by_zero", "raise_exception"])
def test_anything_else_is_left_alone(errcode):
    exc = server_error(errcode)
    assert races.cause(exc) is None
    assert races.interrupted(exc) is None
    assert races.cause(ValueError("not a database error")) is None


def test_the_move_names_a_serialization_failure_as_a_race():
    message = str(_lost_race(server_error("serialization_failure"), 10))
    assert message == (
        "The move lost a race with a concurrent transaction (serialization failure): nothing "
        "was changed; run it again"
    )
