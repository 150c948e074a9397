"""`nerd train`, `nerd experiment` and `nerd schedules`: phases two and three."""

from __future__ import annotations

import shlex
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import click

from common.machine import machine
from core import layers
from core.jobs import experiments, results
from core.ship import deploy
from core.specs import as_spec
from core.store import Store
from core.student import presets, training
from core.student import schedules as blend
from core.student.config import TrainConfig
from core.student.examples import measure_spec
from core.student.self_training import Round, self_train
from core.student.shrink import shrunk
from core.teacher.runs import Progressed
from models import distributed
from tui.render import bar
from tui.shell import (
    db_option,
    err,
    main,
    open_store,
    out,
    print_reports,
)


class ThresholdType(click.ParamType):
    """A probability, or `all`: self-training keeps every sentence its student labelled."""

    name = "P|all"

    def convert(self, value, param, ctx) -> float | None:
        if value is None or isinstance(value, float):
            return value
        if value == "all":
            return None
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r}: give a probability in (0, 1], e.g. 0.9, or 'all'", param, ctx)


@main.command(name="train")
@click.option("--distilled", multiple=True, help="SUBSET@LAYER of distilled data, e.g. distill-1000@run:1.")
@click.option("--original", multiple=True, help="Subset(s) of human-labelled data (gold tags).")
@click.option("--schedule", default="auto", show_default=True,
              help="auto, pure-distilled, pure-original, simple-mix, sigmoid:K, cosine, power:N, all."
              " auto: with both kinds of data, two stages (10 epochs distilled, then --epochs on the"
              " human data with a fresh schedule: ahead of simple mix in bench/results/);"
              " with one kind, that kind.")
@click.option("--blend", type=click.Choice(["sample", "loss"]), default="sample", show_default=True,
              help="Draw w0·|D| and w1·|O| sentences a epoch, or weight the loss by w0 and w1.")
@click.option("--filter", "distilled_filter", default="all", show_default=True,
              help="Which distilled sentences: all, clean (parsed), reviewed, confident:X (every voted"
              " entity named by at least X of the samples), sure:P (a student run: its least sure word"
              " at least P), or agree:RUN (those RUN, e.g. the student's labelling, tags alike).")
@click.option("--preset", type=click.Choice(["paper", "cpu"]), default="cpu", show_default=True)
@click.option("--decay/--no-decay", default=None, help="The paper's ×0.95 learning-rate decay a epoch.")
@click.option("--epochs", type=int, default=None)
@click.option("--pretrain-epochs", type=click.IntRange(min=0), default=None,
              help="Two stages: first this many epochs on the distilled data alone, then --epochs of"
              " the schedule from that model with a fresh optimizer and learning-rate schedule"
              " (--schedule auto with both kinds of data: 10; 0: one stage, simple mix).")
@click.option("--freeze-embeddings/--train-embeddings", default=None,
              help="Keep the word-embedding matrix as pre-trained (faster steps).")
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--encoder", default="",
              help="Hugging Face checkpoint dir or a finished training run (default: embedded MiniLM).")
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--dev", default="auto", show_default=True,
              help="SUBSET[@LAYER] scored each epoch, e.g. held@review:1 ('' for none; auto: conll-dev"
              " when the project has it with gold tags).")
@click.option("--dev-limit", type=int, default=500, show_default=True)
@click.option("--test", default="auto", show_default=True,
              help="SUBSET[@LAYER] predicted and scored at the end ('' for none; auto: conll-test when"
              " the project has it with gold tags).")
@click.option("--name", default="", help="Run name.")
@click.option("--self-train", "self_train_on", default="", metavar="SUBSET",
              help="Self-training on SUBSET's text (never the dev or test set): a student on the human"
              " labels labels it; the next learns first from the sentences it was --threshold sure of,"
              " then from the human labels alone; --rounds times.")
@click.option("--layers", "keep_layers", type=click.IntRange(min=1), default=None,
              help="A smaller student: keep this many of the encoder's layers (evenly spaced, the"
              " last always; e.g. 3 of MiniLM's 6).")
@click.option("--soft", default="", metavar="RUN",
              help="Learn the word probabilities of this finished training run (a bigger student)"
              " on --soft-text's sentences, beside the labels: distilling it into this one.")
@click.option("--soft-text", multiple=True, metavar="SUBSET",
              help="Subsets whose sentences, labelled or not, carry --soft's probabilities (never the"
              " dev or test sentences).")
@click.option("--temperature", type=float, default=None, help="--soft: the softening temperature (2).")
@click.option("--rounds", type=int, default=1, show_default=True, help="Self-training rounds.")
@click.option("--threshold", type=ThresholdType(), default="0.9", show_default=True,
              help="Self-training: the least probability of a pseudo-labelled sentence's least sure"
              " word, or 'all' to keep every sentence.")
@db_option
def train_command(distilled: tuple[str, ...], original: tuple[str, ...], schedule: str, blend: str,
                  distilled_filter: str, preset: str, decay: bool | None, epochs: int | None,
                  pretrain_epochs: int | None, freeze_embeddings: bool | None,
                  batch_size: int | None, lr: float | None, encoder: str, seed: int, dev: str,
                  dev_limit: int, test: str, name: str, self_train_on: str, keep_layers: int | None,
                  soft: str, soft_text: tuple[str, ...], temperature: float | None, rounds: int,
                  threshold: float | None,
                  db: Path | None) -> None:
    """Train the student with a blend schedule; an interrupted run resumes from its last epoch.

    On several processes or GPUs (DistributedDataParallel, gloo on CPU, nccl on CUDA):
    torchrun --standalone --nproc-per-node N -m tui.cli train ... (the same command again
    resumes).
    """

    with distributed.main_first():  # rank 0 may upgrade the database; the others only read
        store = open_store(db)
    if encoder:  # a checkpoint dir, or a finished training run's model (by id or name)
        try:
            encoder = str(deploy.checkpoint_dir(store, encoder))
        except deploy.DeployError as exc:
            raise deploy.DeployError(f"--encoder {exc}") from exc
    config = presets.config(preset, decay, distilled=list(distilled), original=list(original),
                            schedule=schedule, blend=blend, distilled_filter=distilled_filter,
                            encoder=encoder, seed=seed, dev=dev, dev_limit=dev_limit, test=test,
                            epochs=epochs, pretrain_epochs=pretrain_epochs,
                            freeze_embeddings=freeze_embeddings, batch_size=batch_size, lr=lr,
                            layers=keep_layers, soft=soft or None, soft_text=list(soft_text) or None,
                            temperature=temperature)
    if not distributed.is_main():  # under torchrun rank 0 shows the progress and the results
        for _ in training.train_epochs(store, config, name):
            pass
        return
    if self_train_on:
        run = follow_self_training(self_train(store, config, self_train_on, rounds, threshold, name))
    else:
        run = follow_training(training.train_epochs(store, config, name))
    report_run(store, config, run)


@main.command(name="shrink")
@click.argument("run")
@click.option("--layers", "keep_layers", type=click.IntRange(min=1), default=3, show_default=True,
              help="How many of RUN's layers the smaller student keeps (evenly spaced, the last always).")
@click.option("--name", default="", help="Run name (default: RUN's name/L<layers>).")
@db_option
def shrink_command(run: str, keep_layers: int, name: str, db: Path | None) -> None:
    """A smaller, faster student from a finished training run: RUN's own layers, its settings and
    labels, and its word probabilities on every sentence of the datasets it learnt from except its
    dev and test ones (3 of 6 layers: 0.75 point under it on CoNLL, x1.6 its speed). Resumes."""

    store = open_store(db)
    config, default_name = shrunk(store, run, keep_layers)
    out.print(f"shrinking training run {run} to {keep_layers} layers; its probabilities on"
              f" {', '.join(config.soft_text)}")
    report_run(store, config, follow_training(training.train_epochs(store, config, name or default_name)))


def follow_training(events) -> int:
    """A bar over one training run's batches; its run id."""
    with bar("train") as advance:
        for event in events:
            if isinstance(event, training.BatchDone):
                advance(event.batch, event.batches, event.note)
            elif isinstance(event, training.TrainingEnded):
                run = event.run
    return run


def report_run(store: Store, config: TrainConfig, run: int) -> None:
    """A run's epochs, and its scores on its test subset where that has labels."""
    out.print(training_table(store.training.metrics(run), run))
    test = measure_spec(store, config.test, "conll-test")
    measured = as_spec(test) if test else None
    if measured and layers.labelled(store, measured):
        print_reports(layers.score(store, measured.subset, measured.layer, [f"pred:{run}"]),
                      f"training run {run} on {test}", "table")
    elif measured:
        out.print(f"{measured.subset} has no labels to score against: its predictions are the layer"
                  f" pred:{run} (score them with nerd report {measured.subset} --gold review:N"
                  f" --pred pred:{run})")


def follow_self_training(events) -> int:
    """A bar for each round's training and labelling; the last student's training run."""
    run = None
    with ExitStack() as bars:
        advance = None
        for event in events:
            if isinstance(event, Round):
                bars.close()
                what = "human labels" if event.round == 0 else (
                    "labelling" if event.step == "label" else "sure labels, then human")
                advance = bars.enter_context(bar(f"round {event.round}/{event.rounds}: {what}"))
            elif isinstance(event, training.BatchDone):
                advance(event.batch, event.batches, event.note)
            elif isinstance(event, Progressed):
                advance(event.done, event.total, event.note)
            elif isinstance(event, training.TrainingEnded):
                run = event.run
    return run


@main.command()
@click.argument("experiment", type=click.Choice(["phase2", "phase3", "curve"]))
@click.option("--preset", type=click.Choice(["paper", "cpu"]), default="cpu", show_default=True)
@click.option("--seeds", type=int, default=3, show_default=True)
@click.option("--only", multiple=True,
              help="Only these groups (A-E), schedules (e.g. sigmoid:8) or curve points (e.g. 100/human).")
@click.option("--decay", type=click.Choice(["both", "on", "off"]), default="both", show_default=True,
              help="With the paper preset: its ×0.95 learning-rate decay on, off, or both.")
@click.option("--epochs", type=int, default=None, help="Override the preset's epochs.")
@click.option("--freeze-embeddings/--train-embeddings", default=None,
              help="Keep the word-embedding matrix as pre-trained (default: the preset's).")
@click.option("--conll-distilled", default="distill-1000@run:distill-1000-pool1000", show_default=True)
@click.option("--bbc-distilled", default="bbc-long-966@run:bbc-long-966-pool1000", show_default=True,
              help="'' for none: phase 3 on the CoNLL distilled data alone (setting ...-no-bbc),"
              " phase 2 without groups C and E.")
@click.option("--original", default="original-1000", show_default=True)
@click.option("--curve-distilled", default="distill-1000@run:distill-1000-pool{size}", show_default=True,
              help="The curve's distilled layer; {size}: the teacher's pool, the first SIZE human sentences.")
@click.option("--sizes", default="100,250,500,1000", show_default=True, help="Curve: human sentences.")
@click.option("--recipes", default="human,two-stage", show_default=True,
              help="Curve: human, two-stage (10 epochs distilled, then a fresh run on the human"
              " sentences), simple-mix, loss-mix, self-train (the human student labels --unlabelled;"
              " a fresh one learns first from what it was 0.9 sure of, then the humans), self-train-all"
              " (every sentence it labelled), self-train-wide (every sentence of --wide).")
@click.option("--unlabelled", default="self-3000", show_default=True,
              help="Curve: the text the self-train recipes label (never the dev or test sentences).")
@click.option("--wide", default="train-but-original", show_default=True,
              help="Curve: the text self-train-wide labels, all of it, 3 epochs before the humans.")
@click.option("--dev", default="", help="SUBSET scored each epoch ('' none: the tables use the test set).")
@click.option("--test", default="auto", show_default=True,
              help="SUBSET[@LAYER] the tables score (auto: conll-test when the project has it with gold).")
@click.option("--encoder", default="", help="Hugging Face checkpoint dir (default: embedded MiniLM).")
@click.option("--dry-run", is_flag=True, help="List the queue, what is done, and what it still needs.")
@click.option("--tables-only", is_flag=True,
              help="Write the tables from the runs finished so far and train nothing (after a stop,"
              " or runs copied in from another machine).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Where EXPERIMENT.md and .csv go (rewritten after every run).")
@db_option
def experiment(experiment: str, preset: str, seeds: int, only: tuple[str, ...], decay: str,
               epochs: int | None, freeze_embeddings: bool | None, conll_distilled: str,
               bbc_distilled: str, original: str, curve_distilled: str, sizes: str, recipes: str,
               unlabelled: str, wide: str, dev: str, test: str, encoder: str, dry_run: bool,
               tables_only: bool, out_dir: Path, db: Path | None) -> None:
    """Run phase two (groups A-E), phase three (blend patterns) or the learning curve as a
    resumable queue; the tables cover every finished run of the experiment in the database."""

    store = open_store(db)
    sources = experiments.Sources(conll_distilled, bbc_distilled, original, curve_distilled, unlabelled,
                                  wide)
    try:
        points = tuple(int(size) for size in sizes.split(","))
    except ValueError:
        raise click.BadParameter(f"{sizes!r}: sizes are whole numbers, comma-separated",
                                 param_hint="--sizes") from None
    queue = experiments.jobs(experiment, sources, preset, seeds, list(only) or None,
                             {"both": (True, False), "on": (True,), "off": (False,)}[decay],
                             {"encoder": encoder, "epochs": epochs, "dev": dev, "test": test,
                              "freeze_embeddings": freeze_embeddings},
                             points, tuple(recipes.split(",")))
    needed = experiments.prepare(store, experiment, queue, sources, points)
    if dry_run:
        finished = store.training.finished_names()
        for job in queue:
            click.echo(f"{'done' if job.name in finished else 'todo'}  {job.name}")
        for command in needed:
            click.echo(f"needs  {command}")
        return
    if needed and not tables_only:
        raise click.ClickException("first make what the queue needs (each resumes where it stopped):\n  "
                                   + "\n  ".join(needed))

    scored = measure_spec(store, test, "conll-test")
    if not scored:
        err.print("no test set with labels (--test): " + ("nothing to tabulate" if tables_only else
                  "the runs are trained and kept, but there is nothing to tabulate"))

    def write_tables(*_: object) -> None:
        if not scored:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        markdown, table = results.report(store, experiment, scored, out_dir / f"{experiment}.png")
        command = shlex.join(["nerd", *sys.argv[1:]])  # an empty argument shows as ''
        (out_dir / f"{experiment}.md").write_text(
            f"# {experiment}\n\n- written: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
            f"- machine: {machine()}\n- command: `{command}`\n"
            f"- runs: every finished `{experiment}/...` run in {store.path.name}\n\n{markdown}")
        (out_dir / f"{experiment}.csv").write_text(table)

    if not tables_only:
        with bar(experiment) as advance:
            experiments.run_queue(store, queue, lambda i, n, job: err.print(f"[{i + 1}/{n}] {job.name}"),
                                  progress=advance, on_done=write_tables,
                                  on_busy=lambda job: err.print(f"  another process is training {job.name}"))
    write_tables()
    if scored:
        click.echo((out_dir / f"{experiment}.md").read_text())
        err.print(f"wrote {out_dir / f'{experiment}.md'} and .csv")


def training_table(rows: list[dict], run: int):
    from rich.table import Table

    table = Table(title=f"Training run {run}")
    for column in ("epoch", "w0", "distilled", "original", "lr", "loss", "dev F1", "seconds"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(str(r["epoch"] + 1), f"{r['w0']:.3f}", str(r["n_distilled"]), str(r["n_original"]),
                      f"{r['lr']:.2e}", f"{r['loss']:.4f}",
                      "-" if r["dev_f1"] is None else f"{r['dev_f1']:.3f}", f"{r['seconds']:.1f}")
    return table


@main.command()
@click.argument("specs", nargs=-1)
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the plot (Figure 3 of the paper) as a PNG.")
def schedules(specs: tuple[str, ...], epochs: int, png: Path | None) -> None:
    """w0 (share of distilled data) per epoch for each blend schedule, as a table and a plot."""
    from rich.table import Table
    from rich.text import Text

    chosen = list(specs) or ["simple-mix", "sigmoid:8", "sigmoid:32", "cosine", "power:0.2",
                             "power:2", "all"]
    parsed = [blend.parse_schedule(spec) for spec in chosen]
    table = Table(title=f"w0 by epoch (T = {epochs})")
    table.add_column("epoch", justify="right")
    for schedule in parsed:
        table.add_column(schedule.name.replace(":", " ").replace("-", " "), justify="right",
                         overflow="fold")
    for t in range(epochs):
        table.add_row(str(t + 1), *(f"{schedule.w0(t, epochs):.2f}" for schedule in parsed))
    out.print(table)
    out.print(Text.from_ansi(blend.plot_terminal(chosen, epochs)))
    if png:
        out.print(f"wrote {blend.plot_png(chosen, epochs, png)}")
