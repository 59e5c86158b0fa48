"""Where the time of ``move_project_data --execute`` or ``revert_move --execute`` goes,
measured from outside the code.

``PhaseTimer(command).install()`` wraps, by monkeypatching module attributes, the functions
the command calls in order (a call inside another phase counts as that phase's): for a move
the first plan, the locks and re-plan, each step, the ledger's install and seal, the
cached-field refresh, totals, checks and the commit; for a revert the install, the vacuum,
the locks and scans, the replay per table, the wait for the scans beside it, the recount, the
checks after it, the seal and the commit. Wrapping costs a clock read per call. A target the
code no longer has is skipped (the profile then shows it as "other").
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
from collections.abc import Callable

_RECOUNT = "cached-field refresh"
# (module, attribute, phase label). Order is the order a move runs them.
_TARGETS = (
    ("ledger", "prepare_capture", "ledger: install capture (own transactions)"),
    ("ledger.install", "ensure_capture", "ledger: check capture in the move"),
    ("ami.move.apply", "claim_deployments", "claim deployments"),
    ("ami.move.apply", "lock_projects_and_deployments", "lock rows"),
    ("ami.move.apply", "build_plan", "plan under locks"),
    ("ami.move.apply", "lock_planned_rows", "lock planned rows"),
    ("ami.main.cached_fields", "refresh_cached_fields", _RECOUNT),
    ("ami.move.apply", "project_totals", "totals after"),
    ("ami.move.apply", "run_checks", "validation checks"),
    ("ledger.seal", "finish", "ledger: seal (check + hash + write)"),
)
_INSTALL, _ENSURE, _SEAL = _TARGETS[0][2], _TARGETS[1][2], _TARGETS[-1][2]
# The same for a revert; an attribute may name a method (``Class.method``).
_REVERT_TARGETS = (
    ("ledger.replay.engine", "_prepare_capture", _INSTALL),
    ("ledger.replay.engine", "_vacuum_first", "vacuum the move's tables (no lock held)"),
    ("ledger.replay.engine", "_plan", "lock, check the ledger, scan"),
    ("ledger.install", "ensure_capture", _ENSURE),
    ("ami.move.revert", "MoveReplayHooks.before_replay", "domain: before the replay"),
    ("ledger.replay.engine", "_beside_the_replay", "wait for the scans beside the replay"),
    ("ami.move.revert", "MoveReplayHooks.refresh", "recount (derived columns)"),
    ("ledger.replay.engine", "_after", "checks after the replay"),
    ("ledger.seal", "finish", _SEAL),
)
# Tables whose replay gets a line of its own; the others share one.
_BIG_TABLES = frozenset(
    {
        "main_sourceimage",
        "main_occurrence",
        "main_sourceimagecollection_images",
        "main_detection",
        "main_classification",
        "main_event",
    }
)


class PhaseTimer:
    """Accumulates wall time per phase label."""

    def __init__(self, command: str = "move_project_data") -> None:
        self.revert = command == "revert_move"
        self.seconds: dict[str, float] = {}
        self.skipped: list[str] = []
        self._inside = threading.local()

    def _wrap(self, label: str, func: Callable) -> Callable:
        """Time ``func`` under ``label``, unless it runs inside another timed phase (the
        capture check inside the install): its time is that phase's, never counted twice."""

        @functools.wraps(func)
        def timed(*args, **kwargs):
            if getattr(self._inside, "phase", None):
                return func(*args, **kwargs)
            self._inside.phase = label
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start
                self._inside.phase = None

        return timed

    def _find(self, module_name: str, attr: str) -> tuple[object, object] | None:
        """``(owner, value)`` of ``module_name.attr`` (``attr`` may be ``Class.method``); None,
        noted as skipped, where the code no longer has it."""
        *path, name = attr.split(".")
        try:
            owner = importlib.import_module(module_name)
            for part in path:
                owner = getattr(owner, part)
            return owner, getattr(owner, name)
        except (ImportError, AttributeError):
            self.skipped.append(f"{module_name}.{attr}")
            return None

    def install(self) -> None:
        """Patch the command's functions, its steps (or replayed tables) and the commit."""
        for module_name, attr, label in _REVERT_TARGETS if self.revert else _TARGETS:
            if found := self._find(module_name, attr):
                owner, func = found
                setattr(owner, attr.rsplit(".", 1)[-1], self._wrap(label, func))
        if self.revert:
            self._install_units()
        else:
            self._install_steps()
        from django.db import connections

        wrapper = connections["default"]
        wrapper.commit = self._wrap("commit (deferred FK checks)", wrapper.commit)

    def _install_steps(self) -> None:
        if not (found := self._find("ami.move.apply", "STEPS")):
            return
        apply, steps = found
        big = {"[move-images]", "[move-occurrences]", "[move-events]", "[handle-collections]"}
        # The recount is a step: its phase is the step's, as its own line.
        named = {label: f"step {label.strip('[]')}" for label in big}
        named["[refresh-cached-fields]"] = _RECOUNT
        apply.STEPS = tuple(
            (label, self._wrap(named.get(label, "other steps"), func)) for label, func in steps
        )

    def _install_units(self) -> None:
        """Time each replayed unit under its table (``ledger.replay.apply.run_unit``)."""
        if not (found := self._find("ledger.replay.apply", "run_unit")):
            return
        apply, run_unit = found
        timed = {}

        @functools.wraps(run_unit)
        def by_table(cursor, move_id, unit, shape):
            table = unit.table if unit.table in _BIG_TABLES else "other tables"
            if table not in timed:
                timed[table] = self._wrap(f"replay {table}", run_unit)
            return timed[table](cursor, move_id, unit, shape)

        apply.run_unit = by_table

    def report(self, total: float) -> dict[str, float]:
        """Seconds per phase, plus ``other`` (report rendering, recording set-up, ...)."""
        phases = dict(self.seconds)
        phases["other"] = max(total - sum(phases.values()), 0.0)
        return phases
