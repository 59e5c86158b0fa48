"""Where the time of ``move_project_data --execute`` goes, measured from outside the code.

``PhaseTimer.install()`` wraps, by monkeypatching module attributes, the functions the move
calls in order: the first plan, the locks and re-plan, each step, the ledger's install and
seal, the cached-field refresh, totals, checks and the commit. Wrapping costs a clock read per
call. A target the code no longer has is skipped (the profile then shows it as "other").
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Callable

# (module, attribute, phase label). Order is the order a move runs them.
_TARGETS = (
    ("ledger", "prepare_capture", "ledger: install capture (own transactions)"),
    ("ledger.install", "ensure_capture", "ledger: check capture in the move"),
    ("ami.move.apply", "claim_deployments", "claim deployments"),
    ("ami.move.apply", "lock_projects_and_deployments", "lock rows"),
    ("ami.move.apply", "build_plan", "plan under locks"),
    ("ami.move.apply", "lock_planned_rows", "lock planned rows"),
    ("ami.main.cached_fields", "refresh_cached_fields", "cached-field refresh"),
    ("ami.move.apply", "project_totals", "totals after"),
    ("ami.move.apply", "run_checks", "validation checks"),
    ("ledger.seal", "finish", "ledger: seal (check + hash + write)"),
)


class PhaseTimer:
    """Accumulates wall time per phase label."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.skipped: list[str] = []

    def _wrap(self, label: str, func: Callable) -> Callable:
        @functools.wraps(func)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - start

        return timed

    def install(self) -> None:
        """Patch the move's functions, its steps and the connection's commit."""
        for module_name, attr, label in _TARGETS:
            try:
                module = importlib.import_module(module_name)
                setattr(module, attr, self._wrap(label, getattr(module, attr)))
            except (ImportError, AttributeError):
                self.skipped.append(f"{module_name}.{attr}")
        self._install_steps()
        from django.db import connections

        wrapper = connections["default"]
        wrapper.commit = self._wrap("commit (deferred FK checks)", wrapper.commit)

    def _install_steps(self) -> None:
        try:
            apply = importlib.import_module("ami.move.apply")
            steps = apply.STEPS
        except (ImportError, AttributeError):
            self.skipped.append("ami.move.apply.STEPS")
            return
        big = {"[move-images]", "[move-occurrences]", "[move-events]", "[handle-collections]"}
        apply.STEPS = tuple(
            (
                label,
                self._wrap(f"step {label.strip('[]')}" if label in big else "other steps", func),
            )
            for label, func in steps
        )

    def report(self, total: float) -> dict[str, float]:
        """Seconds per phase, plus ``other`` (report rendering, recording set-up, ...)."""
        phases = dict(self.seconds)
        phases["other"] = max(total - sum(phases.values()), 0.0)
        return phases
