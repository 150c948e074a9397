"""Rich progress for long work, shared by the CLI and the pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)

# What `bar` yields and long jobs accept: advance(done, total=None, info="").
Advance = Callable[..., None]


@contextmanager
def bar(description: str, total: int | None = None) -> Iterator[Advance]:
    """Yields `advance(done, total)`; quiet when stderr is not a terminal."""
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        console=console, transient=False, disable=not console.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=total, info="")

        def advance(done: int, of: int | None = None, info: str = "") -> None:
            progress.update(task, completed=done, total=of or total, info=info)

        yield advance
