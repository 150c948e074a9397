"""`nerd export onnx`, `nerd eval` and `nerd tag`: shipping the student."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from common import paths
from core.ship import deploy
from tui.commands.data import export
from tui.shell import (
    db_option,
    err,
    format_option,
    main,
    open_store,
    out,
    print_reports,
)


@export.command(name="onnx")
@click.argument("checkpoint")
@click.option("--out", "target", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Bundle dir: model.onnx, config.json, tokenizer files.")
@click.option("--int8", is_flag=True,
              help="Static int8, calibrated on the project's sentences: the same tags at any batch"
              " size; the dev F1 change is measured.")
@click.option("--check", "check_subset", default=None,
              help="SUBSET[@LAYER] to compare ONNX with torch on and score int8 against (default: the"
              " training run's dev, test or training sentences).")
@db_option
def export_onnx(checkpoint: str, target: Path, int8: bool, check_subset: str | None,
                db: Path | None) -> None:
    """Export a checkpoint dir or training run to ONNX, checked against torch."""

    store = open_store(db) if paths.db_path(db).exists() else None
    result = deploy.export_onnx(store, checkpoint, target, int8, check_subset)
    out.print(f"exported {target / 'model.onnx'}: max |Δlogit| {result.max_abs_logit_diff:.2e},"
              f" argmax agreement {result.argmax_agreement:.4%} on {result.sentences} sentences"
              f" ({result.tokens} pieces)")
    if result.int8:
        if result.dev_f1_int8 is not None:
            out.print(f"int8 (static, calibrated; per-channel weights): dev F1"
                      f" {result.dev_f1_fp32:.4f} -> {result.dev_f1_int8:.4f}"
                      f" ({(result.dev_f1_int8 - result.dev_f1_fp32) * 100:+.2f} points)")
        else:
            out.print("int8: no labelled dev subset in the store, F1 change not measured")
    if result.batch_agreement is not None:
        out.print(f"same tags alone and in batches of 32: {result.batch_agreement:.2%}"
                  " of the check sentences")


@main.command(name="eval")
@click.option("--model", "bundle", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="ONNX bundle dir (nerd export onnx).")
@click.option("--conll", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--threads", type=int, default=None)
@format_option
def eval_command(bundle: Path, conll: Path, threads: int | None, fmt: str) -> None:
    """Score an ONNX bundle on a CoNLL file (Table 1 layout), with speed and wall time."""

    result = deploy.evaluate_bundle(bundle, conll, threads)
    print_reports({bundle.name or str(bundle): result.report}, f"{bundle} on {conll}", fmt)
    err.print(f"{result.sentences} sentences in {result.seconds:.2f} s"
              f" ({result.sentences_per_second:.0f} sentences/s),"
              f" model loaded in {result.load_seconds:.2f} s")
    err.print(f"ran the {result.graph}")


@main.command(name="tag")
@click.argument("source")
@click.option("--model", "bundle", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--format", "fmt", type=click.Choice(["json", "conll"]), default="json", show_default=True)
@click.option("--pretokenized", is_flag=True,
              help="The input is tokenised already: CoNLL (first column; blank lines end sentences)"
              " or one sentence per line, tokens parted by spaces.")
def tag_command(source: str, bundle: Path, fmt: str, pretokenized: bool) -> None:
    """Tag TEXT, or the text of FILE ('-' for standard input): entities as JSON lines (with their
    character offsets in the input) or CoNLL."""

    if source == "-":
        text = sys.stdin.read()
    elif Path(source).is_file():
        text = Path(source).read_text(encoding="utf-8", errors="replace")
    else:
        text = source
    for tokens, tags in deploy.tag_text(bundle, text, pretokenized):
        if fmt == "json":
            click.echo(deploy.entities_json(tokens, tags))
        else:
            click.echo("".join(f"{t.text} {tag}\n" for t, tag in zip(tokens, tags, strict=True)))


@main.command(name="serve")
@click.option("--model", "bundle", required=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="An ONNX bundle (nerd export onnx): onnxruntime only, no torch.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 opens it to the network).")
@click.option("--port", type=click.IntRange(0, 65535), default=9090, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes; onnxruntime threads each default to the cores divided by the workers.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="onnxruntime threads a worker.")
@click.option("--db", "project", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A project: Label Studio annotations of tasks nerd exported are stored as its reviews.")
def serve_command(bundle: Path, host: str, port: int, workers: int, threads: int | None,
                  project: Path | None) -> None:
    """Serve the student over HTTP: POST /tag, and Label Studio's ML backend (/health, /setup,
    /predict, /webhook); /metrics says what runs."""
    import uvicorn

    threads = threads or max((os.cpu_count() or 1) // workers, 1)
    os.environ.update({"NERD_SERVE_BUNDLE": str(bundle.resolve()), "NERD_SERVE_THREADS": str(threads),
                       "NERD_SERVE_DB": str(project.resolve()) if project else ""})
    err.print(f"nerd serve: {bundle} on http://{host}:{port} ({workers} worker(s), {threads} thread(s)"
              f" each{', reviews to ' + str(project) if project else ''})")
    uvicorn.run("tui.server:factory", factory=True, host=host, port=port, workers=workers,
                log_level="warning", timeout_graceful_shutdown=10)
