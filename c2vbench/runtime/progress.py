"""Progress bars on stderr (rich), silent when asked; every long loop of the pipeline goes through ``track``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


class Reporter:
    """Where the pipeline reports progress and notes. ``quiet=True`` prints nothing."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self._console = None
        self.notes: list[str] = []

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=True)
        return self._console

    def note(self, message: str) -> None:
        """A remark worth keeping (also saved in the result file)."""
        self.notes.append(message)
        if not self.quiet:
            self.console.print(f"[dim]note:[/] {message}", highlight=False)

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        if self.quiet or not self.console.is_terminal:  # bars only make sense on a terminal
            yield from items
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            yield from progress.track(items, total=total, description=description)

    @contextlib.contextmanager
    def counter(self, description: str):
        """A ``callback(done, total)`` driving a progress bar, for loops that live in other modules."""
        if self.quiet or not self.console.is_terminal:
            yield lambda done, total: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=None)
            yield lambda done, total: progress.update(task, completed=done, total=total)

    @contextlib.contextmanager
    def status(self, message: str):
        if self.quiet:
            yield
            return
        with self.console.status(message):
            yield
