"""`nerd import`, `sample`, `stats`, `export conll|jsonl` and `report`: corpora and scores."""

from __future__ import annotations

import json
from pathlib import Path

import click

from core import layers
from core.data import corpora
from core.data.ingest import FORMATS, TextFormat
from core.ship import exports
from core.specs import FORMS
from core.teacher import quality
from tui.render import bar, quality_table, stats_table
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
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Dataset name, e.g. bbc.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="txt", show_default=True,
              help="txt: a file is a document; lines: a line is; paragraphs: a blank-line separated"
              " paragraph is; jsonl: a JSON record is.")
@click.option("--text-field", default="text", show_default=True, help="jsonl: the field holding the text.")
@click.option("--id-field", default=None, help="jsonl: a field holding each record's id (default FILE#LINE).")
@click.option("--meta-field", "meta_fields", multiple=True,
              help="jsonl: a field kept as the document's metadata (repeat for more).")
@click.option("--headline", is_flag=True,
              help="The first line of each file (jsonl: of each text) is a title, not sentences.")
@click.option("--glob", default=None, help="Which files of a folder (default *.txt, jsonl: *.jsonl).")
@db_option
def import_text(path: Path, name: str, fmt: str, text_field: str, id_field: str | None,
                meta_fields: tuple[str, ...], headline: bool, glob: str | None, db: Path | None) -> None:
    """Import your documents: a file or a folder (every matching file below it, sorted), split
    into CoNLL-style sentences; each document's text and every token's offsets into it are kept."""
    layout = TextFormat(format=fmt, headline=headline, text_field=text_field, id_field=id_field,
                        meta_fields=meta_fields, glob=glob)
    with bar(f"import {name}") as advance:
        result = corpora.import_text(open_store(db), path, name, layout, progress=advance)
    _report_import(result)
    if result.dataset_id is None:
        hint = (" --headline dropped the first line of each file; leave it out to import one-line files."
                if headline else " Check --format and that the files hold text.")
        err.print(f"warning: {path} gave 0 sentences ({result.files} files, {result.documents} documents,"
                  f" {result.skipped_duplicates} duplicates); nothing was imported as {name}.{hint}",
                  markup=False, highlight=False)


def _report_import(result: corpora.ImportResult) -> None:
    if result.added:
        dropped = result.skipped_duplicates
        docs = f" in {result.documents} documents" if result.documents else ""
        extra = f", {dropped} duplicate documents dropped" if dropped else ""
        out.print(f"imported {result.name}: {result.sentences} sentences{docs}{extra}",
                  markup=False, highlight=False)
    elif result.dataset_id is None:
        return
    elif result.requested and result.requested != result.name:
        out.print(f"{result.requested}: the same content is already imported as {result.name}"
                  f" ({result.sentences} sentences), nothing added", markup=False, highlight=False)
    else:
        out.print(f"{result.name}: already imported ({result.sentences} sentences), nothing added",
                  markup=False, highlight=False)


@main.command()
@click.argument("dataset", required=False)
@click.option("--from", "source", default=None,
              help="Draw from labelled sentences instead: review:N (those reviewed in run N) or"
              " SUBSET@LAYER; the held-out split of a project without gold.")
@click.option("--name", required=True, help="Name of the new subset.")
@click.option("--size", type=int, required=True)
@click.option("--seed", type=int, default=13, show_default=True)
@click.option("--exclude", multiple=True, help="Subset(s) to stay disjoint from.")
@click.option("--min-tokens", type=int, default=0, help="Only sentences at least this long.")
@click.option("--with-entities", is_flag=True, help="Only sentences with a gold entity.")
@db_option
def sample(dataset: str | None, source: str | None, name: str, size: int, seed: int,
           exclude: tuple[str, ...], min_tokens: int, with_entities: bool, db: Path | None) -> None:
    """Draw a seeded subset of a dataset (or --from labelled sentences); seed and ids are recorded."""
    store = open_store(db)
    if (dataset is None) == (source is None):
        raise click.UsageError("give a DATASET or --from review:N (one of them)")
    if source:
        layers.sample_labelled(store, source, name, size, seed, list(exclude))
    else:
        corpora.sample(store, dataset, name, size, seed, list(exclude), min_tokens, with_entities)
    out.print(f"subset {name}: {size} sentences from {source or dataset} (seed {seed})")


@main.command()
@db_option
def stats(db: Path | None) -> None:
    """Sentences, tokens and gold entities of each dataset and subset."""
    store = open_store(db)
    out.print(stats_table(corpora.stats(store), store.labels.current().names))


@main.group(cls=Nerd)
def export() -> None:
    """Write data (CoNLL, JSONL, Prodigy, spaCy, Hugging Face, Label Studio) or a model (ONNX)."""


def _export_data(fmt: str, subset: str, layer: str, target: Path | None, db: Path | None) -> None:
    written = exports.export(open_store(db), fmt, subset, layer, target)
    left_out = f"; left out {written.untagged} that {layer} does not tag" if written.untagged else ""
    if written.path or written.untagged:  # standard output stays clean for a pipe
        where = f" to {written.path}" if written.path else ""
        err.print(f"wrote {written.count} sentences{where}{left_out}", markup=False, highlight=False)
    if written.note:
        err.print(written.note, markup=False, highlight=False)


def data_command(fmt: str, summary: str):
    folder = fmt == "hf"
    target_help = ("Folder to save the dataset in." if folder else "File to write."
                   if fmt in exports.NEEDS_OUT else "File to write (default: standard output).")

    @export.command(name=fmt, help=summary + " Sentences the layer does not tag are left out.")
    @click.argument("subset")
    @click.option("--layer", default="gold", show_default=True, help=f"Tags to write: {FORMS}.")
    @click.option("--out", "target", type=click.Path(dir_okay=folder, file_okay=not folder, path_type=Path),
                  default=None, required=fmt in exports.NEEDS_OUT, help=target_help)
    @db_option
    def command(subset: str, layer: str, target: Path | None, db: Path | None) -> None:
        _export_data(fmt, subset, layer, target, db)

    return command


data_command("conll", "Write a subset (or dataset) with one tag layer as CoNLL (IOB2).")
data_command("jsonl", "Write a subset (or dataset) with one tag layer as JSON lines.")
data_command("prodigy", "Write a subset with one tag layer as Prodigy ner tasks (JSONL, character offsets).")
data_command("spacy", "Write a subset with one tag layer as a spaCy DocBin (.spacy); JSONL for"
             " Example.from_dict when spaCy is not installed or --out ends in .jsonl.")
data_command("hf", "Save a subset with one tag layer as a Hugging Face dataset (tokens, ClassLabel"
             " ner_tags); needs `datasets`.")
data_command("labelstudio", "Write a subset with one tag layer as Label Studio tasks (JSON) with"
             " the layer as predictions; the labeling config goes beside it (NAME.config.xml).")




@main.group(cls=DefaultGroup)
def report() -> None:
    """Evaluation reports: `nerd report SUBSET --pred LAYER`, `nerd report annotations [RUN]`."""




@report.command(name="layers")
@click.argument("subset")
@click.option("--gold", default="gold", show_default=True, help="Reference layer.")
@click.option("--pred", "predicted", multiple=True, required=True,
              help=f"Layer(s) to score, side by side: {FORMS}.")
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
        out.print(quality_table(runs))
