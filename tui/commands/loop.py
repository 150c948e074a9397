"""`nerd loop`: the student in the loop, one round at a time (`core.jobs.loop`)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from core.jobs import loop as loop_job
from core.jobs.loop_report import curve, loop_status
from core.teacher.annotate import Connection
from tui.render import follow, loop_plot, loop_table
from tui.shell import db_option, main, open_store, out


@main.command(name="loop")
@click.argument("subset")
@click.option("--status", "show", is_flag=True,
              help="Show the loop's rounds and its F1 plot; change nothing.")
@click.option("--name", default="", help="The loop's name (default: loop-SUBSET).")
@click.option("--batch", type=int, default=None, help="Sentences a round's batch (first time: 50).")
@click.option("--holdout", type=int, default=None,
              help="One reviewed sentence in N is held out to score, never trained on (first time: 5).")
@click.option("--compared", type=int, default=None,
              help="Held-out sentences the teacher labelled that the student must beat it on before it"
              " pre-annotates (first time: 30).")
@click.option("--epochs", type=int, default=None,
              help="A round's training epochs (default: about 3,000 sentences seen, 3 to 20 epochs).")
@click.option("--backend", type=click.Choice(["llama-cpp", "openai"]), default=None,
              help="The teacher (first time: llama-cpp).")
@click.option("--model", default=None,
              help="The teacher's GGUF path or model name (default: the embedded Gemma).")
@click.option("--base-url", default=None, help="OpenAI-compatible API root, for --backend openai.")
@click.option("--prompt", type=click.Choice(["standard", "cot"]), default=None)
@click.option("--pool", default=None,
              help="A labelled subset for the teacher's examples, besides the sentences reviewed so far.")
@click.option("--encoder", default=None, help="Round 1's starting checkpoint (default: the embedded MiniLM).")
@click.option("--choose", type=click.Choice(loop_job.CHOICES), default=None,
              help="The next batch: the sentences the student is least sure of, the next in order, or"
              " half of each (first time: least-sure).")
@click.option("--self-train/--no-self-train", default=None,
              help="Once the student beats the teacher, each round learns first from its labels of the"
              " unreviewed sentences, then from the reviewed ones (first time: off).")
@db_option
def loop_command(subset: str, show: bool, name: str, db: Path | None, **given: object) -> None:
    """Move the loop over SUBSET on to its next batch to review: the teacher labels the first;
    then each round trains a student on what was reviewed (warm-started from the last), scores it
    beside the teacher on held-out reviewed sentences, and the better of the two pre-annotates
    the sentences the student is least sure of. Resumes where it stopped."""
    store = open_store(db)
    if not show:
        events = loop_job.advance(store, subset, name, Connection(base_url=given.get("base_url") or None),
                                  **given)
        follow((e for e in events if not isinstance(e, loop_job.RoundReady)), out)
    status = loop_status(store, subset, name)
    out.print(loop_table(status))
    if any(curve(status).values()):
        out.print(loop_plot(status))
    for line in status.notes():
        out.print(escape(line), highlight=False)
