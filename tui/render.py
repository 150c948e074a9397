"""Everything nerd prints to a terminal: progress bars and the tables of core's reports.

Core returns data (reports as dataclasses, jobs as events); this module is the one place that
turns them into Rich renderables, so the CLI and the demo print them alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from core.data.corpora import Stats, stats_rows
from core.data.evaluate import Report, table_rows
from core.jobs.demo import CorpusStats, Scored, Summary, TeacherBehaviour
from core.jobs.loop_report import COLUMNS, LoopStatus, curve, status_rows
from core.progress import Advance, Said, Working
from core.teacher.quality import RunQuality, quality_rows

progress_console = Console(stderr=True)


@contextmanager
def bar(description: str, total: int | None = None) -> Iterator[Advance]:
    """Yields `advance(done, total, info)`; quiet when stderr is not a terminal."""
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
        console=progress_console, transient=False, disable=not progress_console.is_terminal,
    )
    with progress:
        task = progress.add_task(description, total=total, info="")

        def advance(done: int, of: int | None = None, info: str = "") -> None:
            progress.update(task, completed=done, total=of or total, info=info)

        yield advance


def stats_table(rows: list[Stats], types: tuple[str, ...] = ()) -> Table:
    """The `nerd stats` table: a column per type, the schema's `types` first."""
    columns, cells = stats_rows(rows, types)
    table = Table(title="Corpora")
    for i, column in enumerate(columns):
        table.add_column(column, no_wrap=i == 0, justify="left" if i < 2 else "right")
    for row in cells:
        table.add_row(*row)
    return table


def reports_table(reports: dict[str, Report], title: str = "", types: Sequence[str] = ()) -> Table:
    """Reports in the layout of the paper's Table 1."""
    table = Table(title=title or None, show_lines=False)
    table.add_column("")
    table.add_column("Metric")
    for name in reports:
        table.add_column(name, justify="right")
    for group, metric, cells in table_rows(reports, types):
        table.add_row(group, metric, *cells, end_section=metric in {"Weighted Average F1", "F1-Score"})
    return table


def quality_table(runs: list[RunQuality]) -> Table:
    """How the teacher behaved, a column per run."""
    table = Table(title="Teacher behaviour")
    table.add_column("")
    for q in runs:
        table.add_column(q.label, justify="right")
    for name, cells in quality_rows(runs):
        table.add_row(name, *cells)
    return table


def plain_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
                left: int = 1) -> Table:
    """A table whose first `left` columns are text and the others numbers."""
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i < left else "right")
    for row in rows:
        table.add_row(*row)
    return table


def summary_table(summary: Summary) -> Table:
    """The demo's last table: each model it made, scored on CoNLL-2003 test."""
    rows = [[row.model, *([f"{row.report.precision:.3f}", f"{row.report.recall:.3f}",
                           f"{row.report.micro_f1:.3f}"] if row.report else ["-", "-", "-"]), row.note]
            for row in summary.rows]
    table = plain_table(f"nerd demo: CoNLL-2003 test ({summary.seconds:.0f} s in all)",
                        ["model", "P", "R", "micro F1", "notes"], rows)
    table.columns[-1].justify = "left"
    return table


def follow(events: Iterator[object], console: Console) -> None:
    """Print a job's events (the demo's, the loop's) as they come: a bar for each step under
    way, lines, tables for reports."""
    with ExitStack() as bars:
        step, advance = None, None
        for event in events:
            if isinstance(event, Working):
                if event.step != step:
                    bars.close()
                    step, advance = event.step, bars.enter_context(bar(event.step, event.total))
                advance(event.done, event.total, event.info)
                continue
            bars.close()
            step = None
            if isinstance(event, Said):
                console.print(event.text)
            elif isinstance(event, CorpusStats):
                console.print(stats_table(event.rows))
            elif isinstance(event, Scored):
                console.print(reports_table(event.reports, event.title))
            elif isinstance(event, TeacherBehaviour):
                console.print(quality_table(event.runs))
            elif isinstance(event, Summary):
                console.print(summary_table(event))


def loop_table(status: LoopStatus) -> Table:
    """`nerd loop --status`: a row a round."""
    table = plain_table(f"nerd loop: {status.loop.name}", COLUMNS, status_rows(status), left=2)
    table.box, table.padding, table.pad_edge = box.SIMPLE_HEAD, (0, 1), False
    return table


def loop_plot(status: LoopStatus, width: int = 72, height: int = 14) -> Text:
    """Held-out F1 against sentences reviewed for training: the student's and the teacher's."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    for who, points in curve(status).items():
        if points:
            plt.plot([x for x, _ in points], [y for _, y in points], label=who, marker="braille")
    plt.title("held-out F1 by sentences reviewed")
    plt.xlabel("reviewed sentences trained on")
    return Text.from_ansi(plt.build())
