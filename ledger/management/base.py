"""What every ledger command shares."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.backends.signals import connection_created

from ledger import races
from ledger.errors import LedgerError


class LedgerCommand(BaseCommand):
    """A command over the ledger: when the ledger refuses (a move that does not exist, a key
    that cannot be read, a database whose ledger is older than this code), or a lost race
    stops it (a dropped connection, a cancelled statement, a deadlock), the operator reads one
    line saying what to do, never a traceback."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        # A connection that never opened (no server, no such database) is no lost race:
        # manage.py says what is wrong with the settings.
        connected = [any(c.connection is not None for c in connections.all(initialized_only=True))]

        def opened(**kwargs: Any) -> None:
            connected[0] = True

        connection_created.connect(opened, weak=False)
        try:
            return super().execute(*args, **options)
        except LedgerError as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            # Any other error (a bug, bad data) keeps its traceback.
            lost = races.interrupted(exc, self.work) if connected[0] else None
            if lost is None:
                raise
            raise CommandError(str(lost)) from exc
        finally:
            connection_created.disconnect(opened)

    @property
    def work(self) -> str:
        """The command as a lost race's message names it: ``the verify_ledger command``."""
        return f"{self.__module__.rsplit('.', 1)[-1]} command"
