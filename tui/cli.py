"""`nerd`: a thin shell over `core`. Each command parses options, calls core, prints."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from core import annotate as annotation
from core import corpora, evaluate, layers, paths, quality
from core.conll import CorpusError, Sentence, write_conll, write_jsonl
from core.progress import bar
from core.prompts import PromptError
from core.store import Store, StoreError
from models.encoder import EncoderError
from models.llm import BackendError
from models.runtime import BundleError

out = Console()
err = Console(stderr=True)
USER_ERRORS = (CorpusError, corpora.NotFound, StoreError, paths.DataDirError,
               layers.LayerError, PromptError, BackendError, EncoderError, BundleError, ValueError,
               FileNotFoundError)


class Nerd(click.Group):
    """Prints a user error as one line naming the problem, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            sys.exit(2)


class DefaultGroup(Nerd):
    """`nerd report SUBSET ...` scores layers; `nerd report annotations [RUN]` names a view."""

    default = "layers"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default, *args]
        return super().parse_args(ctx, args)


format_option = click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]),
                             default="table", show_default=True)

db_option = click.option(
    "--db", "db", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Project database (default: $NERD_DB, else nerd.db here).",
)


def open_store(db: Path | None) -> Store:
    return Store(paths.db_path(db))


@click.group(cls=Nerd, invoke_without_command=True)
@click.pass_context
def main(ctx: click.Context) -> None:
    """nerd: distil an LLM's knowledge into a small, fast NER model. Alone: the app."""
    if ctx.invoked_subcommand is None:
        launch(paths.db_path(None), None)


def launch(db: Path, run: int | None) -> None:
    """The Textual app, imported only here so `nerd --help` stays fast."""
    from tui.app import NerdApp

    NerdApp(db, run).run()


@main.command(name="tui")
@click.argument("db", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--run", "run", type=int, default=None, help="Annotation run to review (default: newest).")
def tui_command(db: Path | None, run: int | None) -> None:
    """Open the app (review, runs, reports) on DB (default: $NERD_DB, else nerd.db here)."""
    launch(paths.db_path(db), run)


@main.command()
@db_option
def init(db: Path | None) -> None:
    """Create (or upgrade) the project database."""
    store = open_store(db)
    out.print(f"project database {store.path} (schema v{store.schema_version})")


@main.group(name="import", cls=Nerd)
def import_group() -> None:
    """Bring corpora into the project."""


@import_group.command(name="conll")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Dataset name, e.g. conll-train.")
@click.option("--scheme", type=click.Choice(["auto", "iob1", "iob2"]), default="auto",
              help="Tag scheme of the file; output is always IOB2.")
@db_option
def import_conll(path: Path, name: str, scheme: str, db: Path | None) -> None:
    """Import a CoNLL file (2 or 4 columns, IOB1 or IOB2)."""
    result = corpora.import_conll(open_store(db), path, name, scheme)
    _report_import(result)


@import_group.command(name="text")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Dataset name, e.g. bbc.")
@db_option
def import_text(folder: Path, name: str, db: Path | None) -> None:
    """Import a folder of raw articles (category/NNN.txt), split into CoNLL-style sentences."""
    with bar(f"import {name}") as advance:
        result = corpora.import_text(open_store(db), folder, name, progress=advance)
    _report_import(result)


def _report_import(result: corpora.ImportResult) -> None:
    if result.added:
        dropped = result.skipped_duplicates
        extra = f", {dropped} duplicate articles dropped" if dropped else ""
        out.print(f"imported {result.name}: {result.sentences} sentences{extra}")
    else:
        out.print(f"{result.name}: already imported ({result.sentences} sentences), nothing added")


@main.command()
@click.argument("dataset")
@click.option("--name", required=True, help="Name of the new subset.")
@click.option("--size", type=int, required=True)
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--exclude", multiple=True, help="Subset(s) to stay disjoint from.")
@click.option("--min-tokens", type=int, default=0, help="Only sentences at least this long.")
@click.option("--with-entities", is_flag=True, help="Only sentences with a gold entity.")
@db_option
def sample(dataset: str, name: str, size: int, seed: int, exclude: tuple[str, ...],
           min_tokens: int, with_entities: bool, db: Path | None) -> None:
    """Draw a seeded subset of a dataset; its seed and sentence ids are recorded."""
    store = open_store(db)
    corpora.sample(store, dataset, name, size, seed, list(exclude), min_tokens, with_entities)
    out.print(f"subset {name}: {size} sentences from {dataset} (seed {seed})")


@main.command()
@db_option
def stats(db: Path | None) -> None:
    """Sentences, tokens and gold entities of each dataset and subset."""
    out.print(corpora.stats_table(corpora.stats(open_store(db))))


@main.group(cls=Nerd)
def export() -> None:
    """Write data (CoNLL, JSONL) or a model (ONNX)."""


def _export_data(fmt: str, subset: str, layer: str, target: Path | None, db: Path | None) -> None:
    store = open_store(db)
    sentences = list(corpora.subset_sentences(store, corpora.resolve_subset(store, subset)))
    tags = layers.load(store, layer, sentences)
    records = [Sentence(s.tokens, tags.get(s.id), doc=s.doc, extra={"id": s.id}) for s in sentences]
    writer = write_conll if fmt == "conll" else write_jsonl
    if target:
        with target.open("w", encoding="utf-8") as fh:
            count = writer(records, fh)
        err.print(f"wrote {count} sentences to {target}")
    else:
        writer(records, sys.stdout)


def data_command(fmt: str, summary: str):
    @export.command(name=fmt, help=summary)
    @click.argument("subset")
    @click.option("--layer", default="gold", show_default=True, help=f"Tags to write: {layers.FORMS}.")
    @click.option("--out", "target", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="File to write (default: standard output).")
    @db_option
    def command(subset: str, layer: str, target: Path | None, db: Path | None) -> None:
        _export_data(fmt, subset, layer, target, db)

    return command


data_command("conll", "Write a subset (or dataset) with one tag layer as CoNLL (IOB2).")
data_command("jsonl", "Write a subset (or dataset) with one tag layer as JSON lines.")


@export.command(name="onnx")
@click.argument("checkpoint")
@click.option("--out", "target", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Bundle dir: model.onnx, config.json, tokenizer files.")
@click.option("--int8", is_flag=True, help="Dynamic int8 quantisation; the dev F1 change is measured.")
@click.option("--check", "check_subset", default="conll-dev", show_default=True,
              help="Held-out subset to compare ONNX with torch on (and score int8).")
@db_option
def export_onnx(checkpoint: str, target: Path, int8: bool, check_subset: str, db: Path | None) -> None:
    """Export a checkpoint dir or training run to ONNX, checked against torch."""
    from core import deploy

    store = open_store(db) if paths.db_path(db).exists() else None
    result = deploy.export_onnx(store, checkpoint, target, int8, check_subset)
    out.print(f"exported {target / 'model.onnx'}: max |Δlogit| {result.max_abs_logit_diff:.2e},"
              f" argmax agreement {result.argmax_agreement:.4%} on {result.sentences} sentences"
              f" ({result.tokens} pieces)")
    if result.int8:
        if result.dev_f1_int8 is not None:
            out.print(f"int8 ({'per-channel' if result.per_channel else 'per-tensor'}): dev F1"
                      f" {result.dev_f1_fp32:.4f} -> {result.dev_f1_int8:.4f}"
                      f" ({(result.dev_f1_int8 - result.dev_f1_fp32) * 100:+.2f} points)")
        else:
            out.print("int8: no labelled dev subset in the store, F1 change not measured")


@main.command(name="eval")
@click.option("--model", "bundle", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="ONNX bundle dir (nerd export onnx).")
@click.option("--conll", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--threads", type=int, default=None)
@format_option
def eval_command(bundle: Path, conll: Path, threads: int | None, fmt: str) -> None:
    """Score an ONNX bundle on a CoNLL file (Table 1 layout), with speed and wall time."""
    from core import deploy

    result = deploy.evaluate_bundle(bundle, conll, threads)
    print_reports({bundle.name or str(bundle): result.report}, f"{bundle} on {conll}", fmt)
    err.print(f"{result.sentences} sentences in {result.seconds:.2f} s"
              f" ({result.sentences_per_second:.0f} sentences/s),"
              f" model loaded in {result.load_seconds:.2f} s")


@main.command(name="tag")
@click.argument("source")
@click.option("--model", "bundle", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--format", "fmt", type=click.Choice(["json", "conll"]), default="json", show_default=True)
def tag_command(source: str, bundle: Path, fmt: str) -> None:
    """Tag TEXT, or the text of FILE ('-' for standard input): entities as JSON lines or CoNLL."""
    from core import deploy

    if source == "-":
        text = sys.stdin.read()
    elif Path(source).is_file():
        text = Path(source).read_text(encoding="utf-8", errors="replace")
    else:
        text = source
    for words, tags in deploy.tag_text(bundle, text):
        if fmt == "json":
            click.echo(deploy.entities_json(words, tags))
        else:
            click.echo("".join(f"{w} {t}\n" for w, t in zip(words, tags, strict=True)))


@main.group(cls=DefaultGroup)
def report() -> None:
    """Evaluation reports: `nerd report SUBSET --pred LAYER`, `nerd report annotations [RUN]`."""




@report.command(name="layers")
@click.argument("subset")
@click.option("--gold", default="gold", show_default=True, help="Reference layer.")
@click.option("--pred", "predicted", multiple=True, required=True,
              help=f"Layer(s) to score, side by side: {layers.FORMS}.")
@format_option
@db_option
def report_layers(subset: str, gold: str, predicted: tuple[str, ...], fmt: str,
                  db: Path | None) -> None:
    """Score tag layers of a subset against a reference (the paper's Table 1 layout)."""
    reports = layers.score(open_store(db), subset, gold, list(predicted))
    print_reports(reports, f"{subset}: {', '.join(predicted)} vs {gold}", fmt)


@report.command(name="annotations")
@click.argument("run", default="latest")
@format_option
@db_option
def report_annotations(run: str, fmt: str, db: Path | None) -> None:
    """An annotation run against gold, beside the other prompt's run when there is one."""
    store = open_store(db)
    runs = [quality.run_quality(store, r) for r in quality.companions(store, run)]
    scored = {q.label: q.report for q in runs if q.report is not None}
    if fmt == "json":
        click.echo(json.dumps([{**q.__dict__, "report": q.report and q.report.to_dict(),
                                "parse_failure_rate": q.parse_failure_rate,
                                "unmatched_rate": q.unmatched_rate} for q in runs], indent=2))
        return
    if scored:
        print_reports(scored, "Teacher against gold", fmt)
    if fmt == "markdown":
        click.echo(quality.quality_markdown(runs))
    else:
        out.print(quality.quality_table(runs))


def print_reports(reports: dict[str, evaluate.Report], title: str, fmt: str) -> None:
    if fmt == "markdown":
        click.echo(evaluate.to_markdown(reports, title))
    elif fmt == "json":
        click.echo(evaluate.to_json(reports))
    else:
        out.print(evaluate.to_rich(reports, title))


@main.command(name="annotate")
@click.argument("subset")
@click.option("--backend", type=click.Choice(["llama-cpp", "openai"]), default="llama-cpp",
              show_default=True)
@click.option("--prompt", type=click.Choice(["standard", "cot"]), default="standard",
              show_default=True)
@click.option("--model", default="", help="GGUF path (llama-cpp; default: the embedded Gemma 270M)"
              " or model name (openai; default gpt-4-0125-preview).")
@click.option("--base-url", default=None, help="OpenAI-compatible API root, e.g. http://127.0.0.1:8000/v1.")
@click.option("--examples", default="paper", show_default=True,
              help="Few-shot examples: paper, a JSON file, or subset:NAME:K (drawn from gold).")
@click.option("--chat", is_flag=True, help="Chat mode (instruction models); default: plain completion.")
@click.option("--concurrency", type=int, default=4, show_default=True, help="Parallel HTTP requests.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds per request.")
@click.option("--limit", type=int, default=None, help="Annotate at most this many sentences now.")
@click.option("--name", default="", help="Run name (default: SUBSET-PROMPT).")
@click.option("--neighbours", type=int, default=0,
              help="K nearest-neighbour examples per sentence from --pool (MiniLM similarity).")
@click.option("--pool", default="", help="Labelled subset the neighbour examples come from.")
@click.option("--constrained", is_flag=True,
              help="llama.cpp grammar: answers can only name spans of the sentence.")
@click.option("--samples", type=int, default=1, show_default=True,
              help="Answers per sentence, voted on (self-consistency).")
@click.option("--vote", type=float, default=0.5, show_default=True,
              help="Share of samples that must name an entity.")
@db_option
def annotate_command(subset: str, backend: str, prompt: str, model: str, base_url: str | None,
                     examples: str, chat: bool, concurrency: int, timeout: float,
                     limit: int | None, name: str, neighbours: int, pool: str, constrained: bool,
                     samples: int, vote: float, db: Path | None) -> None:
    """Ask a teacher LLM for the entities of each sentence; resumes where it stopped."""
    store = open_store(db)
    built = annotation.build_prompt(store, prompt, examples)
    teacher = annotation.open_backend(backend, model, base_url, concurrency, timeout)
    config = annotation.RunConfig(subset, backend, teacher.model, prompt, examples, chat, name=name,
                                  neighbours=neighbours, pool=pool, constrained=constrained,
                                  samples=samples, vote=vote)
    run = annotation.open_run(store, config, built)
    with bar(f"annotate run {run}") as advance:
        summary = annotation.annotate(store, run, teacher, built, config, progress=advance,
                                      limit=limit)
    teacher.close()
    out.print(f"run {run}: {summary.done}/{summary.total} sentences ({summary.asked} asked,"
              f" {summary.from_store} from the store, {summary.parse_failures} parse failures)"
              f" in {summary.seconds:.1f} s")
    if summary.failed:
        for line in summary.errors[:5]:
            err.print(f"[red]failed[/] {escape(line)}")
        err.print(f"{summary.failed} sentences failed; run the same command again to resume.")
        sys.exit(1)


@import_group.command(name="llm-output")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--subset", required=True, help="Subset (or dataset) the sentences belong to.")
@click.option("--prompt", type=click.Choice(["standard", "cot"]), default="standard")
@click.option("--model", default="", help="Model that wrote the answers (for the record).")
@click.option("--name", default="", help="Run name (default: the file name).")
@db_option
def import_llm_output(path: Path, subset: str, prompt: str, model: str, name: str,
                      db: Path | None) -> None:
    """Import answers made elsewhere (JSONL with id or text, and answer) as a run."""
    run, count = annotation.import_llm_output(open_store(db), str(path), subset, prompt, model, name)
    out.print(f"run {run}: {count} answers imported")


@main.command(name="train")
@click.option("--distilled", multiple=True, help="SUBSET@LAYER of distilled data, e.g. distill-1000@run:1.")
@click.option("--original", multiple=True, help="Subset(s) of human-labelled data (gold tags).")
@click.option("--schedule", default="simple-mix", show_default=True,
              help="pure-distilled, pure-original, simple-mix, sigmoid:K, cosine, power:N, all.")
@click.option("--blend", type=click.Choice(["sample", "loss"]), default="sample", show_default=True,
              help="Draw w0·|D| and w1·|O| sentences a epoch, or weight the loss by w0 and w1.")
@click.option("--filter", "distilled_filter", default="all", show_default=True,
              help="Which distilled sentences: all, clean (parsed), reviewed, or confident:X"
              " (every voted entity named by at least X of the samples).")
@click.option("--preset", type=click.Choice(["paper", "cpu"]), default="cpu", show_default=True)
@click.option("--decay/--no-decay", default=None, help="The paper's ×0.95 learning-rate decay a epoch.")
@click.option("--epochs", type=int, default=None)
@click.option("--batch-size", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--encoder", default="", help="Hugging Face checkpoint dir (default: embedded MiniLM).")
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--dev", default="conll-dev", show_default=True, help="Dev subset ('' for none).")
@click.option("--dev-limit", type=int, default=500, show_default=True)
@click.option("--test", default="conll-test", show_default=True, help="Subset to predict at the end.")
@click.option("--name", default="", help="Run name.")
@db_option
def train_command(distilled: tuple[str, ...], original: tuple[str, ...], schedule: str, blend: str,
                  distilled_filter: str, preset: str, decay: bool | None, epochs: int | None,
                  batch_size: int | None, lr: float | None, encoder: str, seed: int, dev: str,
                  dev_limit: int, test: str, name: str, db: Path | None) -> None:
    """Train the student with a blend schedule; an interrupted run resumes from its last epoch."""
    from dataclasses import replace

    from core import presets, training

    config = presets.apply(training.TrainConfig(
        list(distilled), list(original), schedule, blend, distilled_filter, encoder, seed=seed,
        dev=dev, dev_limit=dev_limit, test=test), preset, decay)
    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr))
                 if v is not None}
    config = replace(config, **overrides)
    store = open_store(db)
    with bar("train") as advance:
        run = training.train(store, config, name, progress=advance)
    out.print(training_table(training.metrics(store, run), run))
    if config.test:
        print_reports(layers.score(store, config.test, "gold", [f"pred:{run}"]),
                      f"training run {run} on {config.test}", "table")


@main.command()
@click.argument("experiment", type=click.Choice(["phase2", "phase3"]))
@click.option("--preset", type=click.Choice(["paper", "cpu"]), default="cpu", show_default=True)
@click.option("--seeds", type=int, default=5, show_default=True)
@click.option("--only", multiple=True, help="Only these groups (A-E) or schedules (e.g. sigmoid:8).")
@click.option("--decay", type=click.Choice(["both", "on", "off"]), default="both", show_default=True)
@click.option("--epochs", type=int, default=None, help="Override the preset's epochs.")
@click.option("--conll-distilled", default="distill-1000@run:latest", show_default=True)
@click.option("--bbc-distilled", default="bbc-long-966@run:latest", show_default=True)
@click.option("--original", default="original-1000", show_default=True)
@click.option("--encoder", default="", help="Hugging Face checkpoint dir (default: embedded MiniLM).")
@click.option("--dry-run", is_flag=True, help="List the queue and what is already done.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="Where the Markdown and CSV tables go.")
@db_option
def experiment(experiment: str, preset: str, seeds: int, only: tuple[str, ...], decay: str,
               epochs: int | None, conll_distilled: str, bbc_distilled: str, original: str,
               encoder: str, dry_run: bool, out_dir: Path, db: Path | None) -> None:
    """Run the paper's phase two (groups A-E) or phase three (blend patterns) as a resumable queue."""
    from dataclasses import replace

    from core import experiments, training

    store = open_store(db)
    base = training.TrainConfig(encoder=encoder)
    decays = {"both": (True, False), "on": (True,), "off": (False,)}[decay]
    queue = experiments.jobs(experiment, experiments.Sources(conll_distilled, bbc_distilled, original),
                             preset, seeds, list(only) or None, decays, base)
    if epochs:
        for job in queue:
            job.config = replace(job.config, epochs=epochs)
    finished = {r[0] for r in store.db.execute("select name from training_runs where status = 'finished'")}
    if dry_run:
        for job in queue:
            out.print(f"{'done' if job.name in finished else 'todo'}  {job.name}")
        return
    with bar(experiment) as advance:
        experiments.run_queue(store, queue, lambda i, n, job: err.print(f"[{i + 1}/{n}] {job.name}"),
                              progress=advance)
    rows = experiments.results(store, queue)
    title = f"{experiment}, preset {preset}, test F1 mean ± std over seeds"
    markdown = experiments.to_markdown(rows, title)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{experiment}-{preset}.md").write_text(markdown)
    (out_dir / f"{experiment}-{preset}.csv").write_text(experiments.to_csv(rows))
    click.echo(markdown)
    err.print(f"wrote {out_dir / f'{experiment}-{preset}.md'} and .csv")


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

    from core import schedules as blend

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


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Folder with conll2003/ and bbc/ (default: $NERD_DATA_DIR, else ../shared/data).")
@click.option("--annotate", "annotate_n", type=int, default=100, show_default=True,
              help="Sentences to label with the embedded teacher (0: stop after the corpus report).")
@click.option("--epochs", type=int, default=10, show_default=True, help="Simple-mix training epochs.")
@click.option("--model", default="", help="GGUF for the teacher (default: embedded Gemma 270M).")
@db_option
def demo(data_dir: Path | None, annotate_n: int, epochs: int, model: str, db: Path | None) -> None:
    """The main job on the embedded defaults: import, annotate, train, export, evaluate."""
    from core import pipeline

    options = pipeline.DemoOptions(annotate_n, epochs, model)
    pipeline.run_demo(open_store(db), paths.data_dir(data_dir, "conll2003"), out, options)


if __name__ == "__main__":
    main()
