"""`nerd labels load|show`: the project's entity types (its label schema)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from core.data import labels
from core.data.schema import CONLL, LabelSchema
from tui.shell import Nerd, db_option, main, open_store, out


@main.group(name="labels", cls=Nerd)
def labels_group() -> None:
    """The project's entity types: what the teacher is asked for and the student learns."""


@labels_group.command(name="show")
@db_option
def show(db: Path | None) -> None:
    """The label schema in force: each type's key, name, title, colour, aliases and description."""
    store = open_store(db)
    schema, history = store.labels.current(), store.labels.history()
    out.print(schema_table(schema, "CoNLL-2003 (default)" if not history
                           else f"label schema {history[-1].id}, loaded {history[-1].created}"))
    examples = len(schema.examples) or (3 if schema == CONLL else 0)
    source = " (the paper's Figure 1)" if not schema.examples and examples else ""
    out.print(f"{examples} few-shot example{'s' if examples != 1 else ''}{source}")


def schema_table(schema: LabelSchema, title: str) -> Table:
    table = Table(title=title)
    for column in ("key", "name", "title", "colour", "aliases", "description"):
        table.add_column(column, overflow="fold")
    for t in schema.types:
        table.add_row(t.key, t.name, escape(t.title), f"[black on {t.colour}] {t.colour} [/]",
                      ", ".join(t.aliases), escape(t.description))
    return table


@labels_group.command(name="load")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True,
              help="Load it even though it removes or renames types that existing runs use.")
@db_option
def load(path: Path, force: bool, db: Path | None) -> None:
    """Load a label schema (YAML or JSON) and put it in force for new runs."""
    result = labels.install(open_store(db), path, force)
    if not result.saved:
        out.print(f"{path}: the same label schema is already in force; nothing changed")
        return
    out.print(schema_table(result.schema, f"loaded {path}"))
    out.print(f"types: {result.change.summary()}")
    for note in result.notes:
        out.print(escape(note))
