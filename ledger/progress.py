"""Progress of a long command, as a move and a revert show it: one timestamped line per phase
for a log or a pipe, or on a terminal a rich line per phase with a spinner and its elapsed
time. The commands of any domain use these, so every one reads alike."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import IO, Any, Self


def phase_line(name: str, at: datetime, elapsed: float) -> str:
    """One phase as a log line: UTC time, seconds since the start, name."""
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} +{elapsed:.1f}s {name}"


class TerminalPhases:
    """A rich line per phase, with a spinner while it runs and its elapsed time once done;
    finished lines and other output print above the running one."""

    def __init__(self, file: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(file=file)
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("{task.description}", markup=False),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.task: Any = None

    def __enter__(self) -> Self:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        self.progress.stop()

    def _finish(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=1)
            self.progress.stop_task(self.task)
            self.task = None

    def phase(self, name: str) -> None:
        """The running phase ends; ``name`` starts."""
        self._finish()
        self.task = self.progress.add_task(name, total=1)

    def describe(self, text: str) -> None:
        """What the running phase's line says now."""
        if self.task is not None:
            self.progress.update(self.task, description=text)

    def done(self, text: str) -> None:
        """A finished line of its own (a step that ended)."""
        self.progress.stop_task(self.progress.add_task(text, total=1, completed=1))

    def print(self, text: str, style: str | None = None) -> None:
        """A plain line above the display."""
        self.console.print(text, markup=False, highlight=False, style=style)
