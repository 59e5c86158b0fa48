"""What every step shares: the read-only context of one execution and the SQL helpers.

A step reads the plan and the results of the steps before it, writes through a ``StepRun``
and returns its ``StepResult``; the runner (``ami.move.apply``) hands the next step a context
that holds that result. No step writes into the context.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from django.db import connection

from ami.move.structs import MovePlan, MoveRequest, StepResult

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


class Recorder(Protocol):
    """What the steps and checks need from a recording (the ledger's)."""

    def step(
        self, label: str, *, expected_rows: int | None, action: str
    ) -> AbstractContextManager[object]: ...

    def written_tables(self) -> dict[str, int]: ...


@dataclass
class StepRun:
    """Rows written so far by the open step."""

    rows: int = 0
    detail: list[str] = field(default_factory=list)
    created: dict[str, list[int]] = field(default_factory=dict)
    touched: dict[str, list[int]] = field(default_factory=dict)
    # Rows this step copied for the target, by kind: source id -> the target's id.
    clones: dict[str, dict[int, int]] = field(default_factory=dict)
    _result: StepResult | None = None

    def result(self) -> StepResult:
        """What the step did, once its ``with ctx.step(...)`` block has ended."""
        assert self._result is not None, "the step's block has not ended yet"
        return self._result

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


@dataclass(frozen=True)
class StepContext:
    """What a step reads: the plan, the recording, and the results of the steps before it."""

    plan: MovePlan
    recorder: Recorder
    # The target's id, known before the first step (reserved for a created one).
    target_id: int
    # The label of the step running now, from ``STEPS``: written once.
    label: str = ""
    earlier: tuple[StepResult, ...] = ()

    @property
    def clones(self) -> dict[str, dict[int, int]]:
        """Source id -> the target's copy, by kind, as the earlier steps left them (a later
        step's entry for the same id wins). A split source "All Images" maps to the target's
        own "All Images" where ``[handle-collections]`` joined them."""
        merged: dict[str, dict[int, int]] = {}
        for result in self.earlier:
            for kind, mapping in result.clones.items():
                merged.setdefault(kind, {}).update(mapping)
        return merged

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

    def params(self, **extra: object) -> dict[str, Any]:
        """The usual parameters: source ``s``, target ``t``, moved deployments ``d``."""
        return {"s": self.source_id, "t": self.target_id, "d": self.deployment_ids, **extra}

    @contextmanager
    def step(self, expected_rows: int | None, action: str) -> Iterator[StepRun]:
        """Open the running step's recorded step; the caller writes through the yielded
        ``StepRun``."""
        assert self.label, "a step runs under the label STEPS gives it"
        run = StepRun()
        with self.recorder.step(self.label, expected_rows=expected_rows, action=action) as handle:
            yield run
        # The rows the ledger captured in the step, where it records: a step that writes
        # through the ORM ([create-target]) counts no statement of its own.
        captured = getattr(handle, "captured_rows", None)
        run._result = StepResult(
            label=self.label,
            action=action,
            rows=captured if isinstance(captured, int) else run.rows,
            expected_rows=expected_rows,
            detail="; ".join(run.detail),
            created={k: tuple(v) for k, v in run.created.items()},
            touched={k: tuple(v) for k, v in run.touched.items()},
            clones={k: tuple(v.items()) for k, v in run.clones.items()},
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
    return run.result()
