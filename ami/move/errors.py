"""Typed errors of a move. Each message says what is wrong and how to fix it.

The command turns every ``MoveError`` into exactly one ``CommandError`` with the same text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ami.move.structs import MoveReport


class MoveError(Exception):
    """Base class: a move refused or rolled back. Nothing was written."""


class InvalidRequest(MoveError):
    """The flags do not describe a valid move (bad ids, conflicting options)."""


class ProjectNotFound(MoveError):
    """The source or target project does not exist."""


class DeploymentsNotFound(MoveError):
    """Some ``--deployment-ids`` match no deployment."""


class DeploymentsNotInSource(MoveError):
    """Some deployments belong to another project than ``--source-project``."""


class RunningJobs(MoveError):
    """A job on a moved deployment is running; moving now would race with it."""


class PlanChanged(MoveError):
    """The data changed between the dry run and the locked re-plan inside the transaction."""


class StepCountMismatch(MoveError):
    """A step changed another number of rows than the locked plan predicted."""


class ValidationFailed(MoveError):
    """A post-move check failed inside the transaction; everything was rolled back.

    Attributes:
        report: the report of the rolled-back attempt, with the failed checks.
    """

    def __init__(self, message: str, report: MoveReport) -> None:
        super().__init__(message)
        self.report = report


class MoveBusy(MoveError):
    """Another move or revert holds some of the deployments right now."""


class MoveInterrupted(MoveError):
    """A lost race (deadlock, lock timeout, lost connection) stopped the move; nothing was
    written and it can simply be run again."""


class SchemaMismatch(MoveError):
    """The database's tables are not the ones the move was written for (an attached database
    whose schema differs): every difference is listed; nothing was changed."""
