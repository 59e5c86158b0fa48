"""A migration's SQL on ledger objects that ``ledger_setup_roles`` may have given away.

Once the roles are set up, the ledger's functions and tables belong to their own owner, and
a later ledger migration that replaces one must run as a role allowed to: a superuser (the
owner itself has no rights on Django's own tables, which ``migrate`` writes too). Run by the
application's role, PostgreSQL refuses with ``must be owner of function ...``; this says so
in one line, with what to do, instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management import CommandError
from django.db import DatabaseError, migrations

from ledger.dbapi import sqlstate

INSUFFICIENT_PRIVILEGE = "42501"


def privilege_refusal(exc: BaseException) -> str | None:
    """The server's reason, its first line, where it refused for want of a privilege or of
    ownership (``must be owner of ...``); None for any other error."""
    if sqlstate(exc) != INSUFFICIENT_PRIVILEGE:
        return None
    return str(exc).strip().splitlines()[0]


@contextmanager
def _one_line_when_refused(backwards: bool = False) -> Iterator[None]:
    try:
        yield
    except DatabaseError as exc:
        reason = privilege_refusal(exc)
        if reason is None:
            raise
        command = "migrate ledger <migration>" if backwards else "migrate ledger"
        done = "unapplied" if backwards else "applied"
        raise CommandError(
            f"ledger migration refused: {reason}. The ledger's objects belong to the owner "
            f"ledger_setup_roles gave them to: run `python manage.py {command}` as a "
            "superuser, then `ledger_setup_roles` again (docs/compliance.md). This migration "
            f"was not {done}."
        ) from exc


class OwnedSQL(migrations.RunSQL):
    """``RunSQL`` that names who may run it when the role running it owns too little."""

    def database_forwards(self, *args: Any, **kwargs: Any) -> None:
        with _one_line_when_refused():
            super().database_forwards(*args, **kwargs)

    def database_backwards(self, *args: Any, **kwargs: Any) -> None:
        with _one_line_when_refused(backwards=True):
            super().database_backwards(*args, **kwargs)
