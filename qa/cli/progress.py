"""The one progress bar the commands draw (ingest, eval, train-reader): on stderr, gone when
done, and a plain log line instead where stderr is not a terminal (CI, nohup)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console


def console(stderr: bool = False) -> Console:
    """A rich console (stderr for progress), without syntax highlighting."""
    return Console(stderr=stderr, highlight=False)


def progress_bar(label: str, fields: str, *, counted: bool = False, remaining: bool = False) -> Any:
    """A bar titled ``label``; ``fields`` is a rich format string over the task's fields
    (``{task.fields[articles]}``); ``counted`` adds done/total, ``remaining`` an ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [TextColumn(f"[bold]{label}"), BarColumn()]
    if counted:
        columns.append(MofNCompleteColumn())
    columns += [TextColumn(fields), TimeElapsedColumn()]
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console(stderr=True), transient=True)


class LogEvery:
    """Off a terminal: let a line through at most every ``seconds``."""

    def __init__(self, seconds: float = 60.0) -> None:
        self.seconds = seconds
        self._last = 0.0

    def due(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self._last >= self.seconds:
            self._last = now
            return True
        return False
