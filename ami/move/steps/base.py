"""What every step shares: the mutable context of one execution and the SQL helpers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from django.db import connection

from ami.move.structs import MovePlan, MoveRequest, ProjectTotals, StepResult

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


class Recorder(Protocol):
    """What the steps need from a recording (the ledger's, or a null one)."""

    def step(
        self, label: str, *, expected_rows: int | None, action: str
    ) -> AbstractContextManager[object]: ...


@dataclass
class StepRun:
    """Rows written so far by the open step."""

    rows: int = 0
    detail: list[str] = field(default_factory=list)
    created: dict[str, list[int]] = field(default_factory=dict)
    touched: dict[str, list[int]] = field(default_factory=dict)

    def execute(self, sql: str, params: Mapping[str, Any]) -> int:
        """Run one write statement and add its row count."""
        with connection.cursor() as cur:
            cur.execute(sql, params)
            count = max(cur.rowcount, 0)
        self.rows += count
        return count

    def returning(self, sql: str, params: Mapping[str, Any]) -> list[tuple]:
        """Run a write statement with RETURNING; each returned row is a written row."""
        with connection.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        self.rows += len(rows)
        return rows


@dataclass
class StepContext:
    """State of one execution, shared by the steps in order."""

    plan: MovePlan
    recorder: Recorder
    # The target's id, known before the first step (reserved for a created one).
    target_id: int
    clones: dict[str, dict[int, int]] = field(default_factory=dict)
    target_before: ProjectTotals | None = None
    last: StepResult | None = None
    # The label of the step running now, set by the runner from ``STEPS``: written once.
    label: str = ""

    @property
    def request(self) -> MoveRequest:
        return self.plan.request

    @property
    def source_id(self) -> int:
        assert self.plan.source.id is not None
        return self.plan.source.id

    @property
    def deployment_ids(self) -> list[int]:
        return list(self.request.deployment_ids)

    def result(self) -> StepResult:
        """The result of the step that ended last."""
        assert self.last is not None, "no step ended yet"
        return self.last

    def params(self, **extra: object) -> dict[str, Any]:
        """The usual parameters: source ``s``, target ``t``, moved deployments ``d``."""
        return {"s": self.source_id, "t": self.target_id, "d": self.deployment_ids, **extra}

    @contextmanager
    def step(self, expected_rows: int | None, action: str) -> Iterator[StepRun]:
        """Open the running step's recorded step; the caller writes through the yielded
        ``StepRun``."""
        assert self.label, "a step runs under the label STEPS gives it"
        run = StepRun()
        with self.recorder.step(self.label, expected_rows=expected_rows, action=action):
            yield run
        self.last = StepResult(
            label=self.label,
            action=action,
            rows=run.rows,
            expected_rows=expected_rows,
            detail="; ".join(run.detail),
            created={k: tuple(v) for k, v in run.created.items()},
            touched={k: tuple(v) for k, v in run.touched.items()},
        )


def run_simple(
    ctx: StepContext,
    action: str,
    expected_rows: int | None,
    sql: str,
    params: Mapping[str, Any],
) -> StepResult:
    """A step that is one statement."""
    with ctx.step(expected_rows, action) as run:
        run.execute(sql, params)
        run.detail.append(f"{run.rows} row(s)")
    return ctx.result()
