"""The compliance commands' arguments: bad ids are one CommandError naming the fix; absent
values render as "- (why)", never "None"."""

from __future__ import annotations

from io import StringIO

import msgspec
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction

import ledger


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def two_moves(seeded):
    """Two moves with the same arguments."""
    arguments = {"source": 3, "target": 9, "items": [4]}
    recorded = []
    for reason in ("first", "split"):
        with (
            transaction.atomic(),
            ledger.recording(
                command="move_data", arguments=arguments, reason=reason, operator="42"
            ) as move,
            connection.cursor() as cursor,
        ):
            cursor.execute("UPDATE ledger_t_parent SET name = %s WHERE id = 1", [reason])
        recorded.append(move)
    return recorded


@pytest.mark.parametrize("target", ["main.Deployment", "main_deployment", "auth.Group"])
def test_row_history_refuses_a_pk_the_model_cannot_hold(db, target):
    with pytest.raises(
        CommandError,
        match=rf"'abc' is not a primary key of {target} \(.*must be an integer\): "
        rf"pass the row's id, e\.g\. row_history {target} 3",
    ):
        run("row_history", target, "abc")


def test_row_history_reads_a_zero_padded_pk_as_the_id(db):
    assert run("row_history", "main.Deployment", "03").strip() == (
        "no ledger entries for main_deployment row 3"
    )


def test_show_move_renders_what_is_absent_as_a_dash_with_the_reason(two_moves):
    first, second = two_moves
    detail = msgspec.json.decode(run("show_move", str(first.move_id), "--format", "json"))
    assert detail["header"]["prev_digest"] is None
    text = run("show_move", str(first.move_id))
    assert "\n  prev_digest  - (first move)\n" in text
    assert "None" not in text
    text = run("show_move", str(second.move_id))
    assert f"\n  prev_digest  {first.digest}\n" in text
    assert "\n  reason     split\n" in text
