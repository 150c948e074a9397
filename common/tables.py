"""The one Markdown table writer: reports, teacher behaviour and experiment results use it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str = "",
                   title: str = "") -> str:
    """A pipe table, one line a row, ending in a newline.

    `align` has a letter a column, `l` (the default for columns it leaves out) or `r`; a
    `title` comes first as a `###` heading and a blank line.
    """
    marks = ["---:" if align[i : i + 1] == "r" else "---" for i in range(len(header))]
    lines = [f"### {title}", ""] if title else []
    lines += [_row(header), _row(marks)]
    lines += [_row(cells) for cells in rows]
    return "\n".join(lines) + "\n"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
