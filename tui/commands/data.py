"""`nerd import`, `sample`, `stats`, `export conll|jsonl` and `report`: corpora and scores."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from core import corpora, layers, quality
from core.conll import Sentence, write_conll, write_jsonl
from core.progress import bar
from tui.shell import (
    DefaultGroup,
    Nerd,
    db_option,
    err,
    format_option,
    import_group,
    main,
    open_store,
    out,
    print_reports,
)


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
