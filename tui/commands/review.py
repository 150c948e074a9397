"""`nerd agreement`: how far the annotators of a run agree, as a table, Markdown or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click
from rich.markup import escape

from common.tables import markdown_table
from core.layers import run_id
from core.review.agreement import COLUMNS, agreement, differences, rows, said
from tui.render import plain_table
from tui.shell import db_option, main, open_store, out


@main.command(name="agreement")
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True)
@db_option
def agreement_command(run: str, fmt: str, db: Path | None) -> None:
    """Pairwise agreement of the annotators who reviewed RUN (id or name): exact-span precision,
    recall and F1 per type, Cohen's kappa over word tags, Krippendorff's alpha with three or more,
    and the sentences they disagree on."""
    store = open_store(db)
    found = agreement(store, run_id(store, run))
    if fmt == "json":
        click.echo(json.dumps(asdict(found), indent=2))
        return
    title = f"Agreement on run {found.run}: {', '.join(found.annotators)}"
    if fmt == "markdown":
        click.echo(markdown_table(COLUMNS, rows(found), "llrrrrrr", title))
        click.echo("\n" + "\n\n".join(said(found)) + "\n\n"
                   + "\n".join(f"- {line}" for line in differences(found)))
        return
    out.print(plain_table(title, COLUMNS, rows(found), left=2))
    for line in [*said(found), *differences(found)]:
        out.print(escape(line), highlight=False)
