"""move_project_data follows the ledger's operator and reason rules (``ledger.who_and_why``)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledger.models import Move
from tests.ami.move.commands import move_output
from tests.builders import make_project, make_user, setup_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def args():
    src = setup_source(1)
    target = make_project("Target", make_user("target-owner"))
    return [
        "--source-project", str(src.project.pk), "--target-project", str(target.pk),
        "--deployment-ids", str(src.dep.pk),
    ]  # fmt: skip


def test_execute_without_a_reason_is_refused_with_the_ledgers_words(args):
    with pytest.raises(CommandError, match=r'--execute needs --reason "why" \(it is stored'):
        move_output(*args, "--execute", "--reason", "  ")
    assert not Move.objects.exists()


def test_no_operator_records_the_login_as_the_ledger_defaults_it(args, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "ana")
    move_output(*args, "--execute", "--reason", " TICKET-1 ")
    (recorded,) = Move.objects.all()
    assert (recorded.operator, recorded.reason) == ("ana", "TICKET-1")


def test_an_email_operator_is_refused_in_a_dry_run_too(args):
    with pytest.raises(CommandError, match=r"--operator looks like an e-mail address"):
        move_output(*args, "--operator", "ana@example.org")


def test_a_reason_holding_an_email_is_refused_and_nothing_is_recorded(args):
    with pytest.raises(CommandError, match=r"--reason holds an e-mail address"):
        move_output(*args, "--execute", "--reason", "asked by ana@example.org")
    assert not Move.objects.exists()


def test_revert_follows_the_same_rules(args):
    """revert_move uses ledger.who_and_why too: the same words, the same refusals."""
    with pytest.raises(CommandError, match=r"--operator looks like an e-mail address"):
        call_command("revert_move", "1", "--operator", "ana@example.org", stdout=StringIO())
    with pytest.raises(CommandError, match=r'--execute needs --reason "why" \(it is stored'):
        call_command("revert_move", "1", "--execute", "--reason", " ", stdout=StringIO())
    with pytest.raises(CommandError, match=r"--reason holds an e-mail address"):
        call_command("revert_move", "1", "--reason", "for ana@example.org", stdout=StringIO())


@pytest.mark.parametrize("seconds", ["0", "-1", "0.0004", "inf", "nan", "1e10"])
def test_a_lock_timeout_postgresql_cannot_take_is_refused_before_anything_runs(args, seconds):
    """Below a millisecond it would reach PostgreSQL as 0 ms (wait forever); inf, nan and
    past INT_MAX ms it fails there. Refused at once by both commands, nothing recorded."""
    refused = r"^--lock-timeout must be a number of seconds from 0\.001 to 2147483 "
    with pytest.raises(CommandError, match=refused):
        move_output(*args, "--execute", "--reason", "r", "--lock-timeout", seconds)
    with pytest.raises(CommandError, match=refused):
        call_command(
            "revert_move", "1", "--execute", "--reason", "r", "--lock-timeout", seconds,
            stdout=StringIO(),
        )  # fmt: skip
    assert not Move.objects.exists()
