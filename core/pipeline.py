"""The main job on the embedded defaults: what `nerd demo` (and `just demo`) runs.

Each step is idempotent, so running the job again after a crash picks up where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from core import corpora, evaluate, layers, quality
from core.ingest import TextFormat
from core.progress import bar
from core.store import Store

CONLL_SPLITS = {"conll-train": "train.txt", "conll-dev": "dev.txt", "conll-test": "test.txt"}
PAPER_SUBSETS = (
    # name, dataset, size, exclude, min_tokens
    ("original-1000", "conll-train", 1000, (), 0),
    ("distill-1000", "conll-train", 1000, ("original-1000",), 0),
    ("bbc-long-966", "bbc", 966, (), 30),
)
SEED = 13


def import_defaults(store: Store, data: Path, console: Console | None = None) -> None:
    """CoNLL-2003 train/dev/test and, when present, the BBC articles."""
    for name, filename in CONLL_SPLITS.items():
        result = corpora.import_conll(store, data / "conll2003" / filename, name)
        _say(console, f"{name}: {result.sentences} sentences"
             + ("" if result.added else " (already there)"))
    if (data / "bbc").is_dir():
        with bar("import bbc") as advance:
            result = corpora.import_text(store, data / "bbc", "bbc", TextFormat(format="txt", headline=True),
                                         progress=advance)
        _say(console, f"bbc: {result.sentences} sentences, {result.skipped_duplicates} duplicate"
             " articles dropped" if result.added else f"bbc: {result.sentences} sentences (already there)")


def sample_defaults(store: Store) -> list[str]:
    """The paper's subsets, drawn disjointly and seeded."""
    made = []
    have = set(store.corpora.dataset_names())
    for name, dataset, size, exclude, min_tokens in PAPER_SUBSETS:
        if dataset in have:
            corpora.sample(store, dataset, name, size, SEED, list(exclude), min_tokens)
            made.append(name)
    return made


@dataclass
class DemoOptions:
    annotate: int = 100  # sentences the embedded teacher labels (0: skip the loop after the report)
    epochs: int = 10  # simple mix: the first half on distilled data, the second on original
    model: str = ""  # GGUF for the teacher
    artifacts: Path | None = None  # where the ONNX bundle goes (default: beside the database)


def run_demo(store: Store, data: Path, console: Console, options: DemoOptions | None = None
             ) -> dict[str, evaluate.Report]:
    """The whole loop on the embedded defaults: import and sample, the floor and ceiling any
    teacher is judged by, a small annotation run, a short training (distilled then original),
    ONNX export (int8), and evaluation on CoNLL test, with a summary at the end."""
    options = options or DemoOptions()
    started = time.perf_counter()
    import_defaults(store, data, console)
    sample_defaults(store)
    console.print(corpora.stats_table(corpora.stats(store)))
    reports = layers.score(store, "conll-test", "gold", ["lexicon:original-1000"])
    reports |= layers.score(store, "distill-1000", "gold", ["roundtrip"])
    console.print(evaluate.to_rich(
        reports, "Floor and ceiling: entities memorised from original-1000, scored on conll-test;"
        " gold turned into a teacher's dict and aligned back, on distill-1000",
    ))
    if not options.annotate:
        return reports
    run = annotate_sample(store, console, options.annotate, options.model)
    teacher = quality.run_quality(store, run)
    console.print(quality.quality_table([teacher]))
    summary: list[tuple[str, evaluate.Report | None, str]] = [
        ("teacher (Gemma 270M, 8 nearest-neighbour examples)", teacher.report,
         f"{teacher.sentences} distill sentences, {teacher.seconds:.2f} s each")]
    from core import deploy, presets, training

    config = presets.config("cpu", distilled=[f"distill-first-{options.annotate}@run:{run}"],
                            original=["original-1000"], schedule="simple-mix", dev="conll-dev",
                            dev_limit=300, test="conll-test", epochs=options.epochs)
    with bar("train (simple mix)") as advance:
        trained = training.train(store, config, "demo", progress=advance)
    (student,) = layers.score(store, "conll-test", "gold", [f"pred:{trained}"]).values()
    summary.append((f"student (MiniLM, torch), training run {trained}", student,
                    f"{options.epochs} epochs simple mix"))
    bundle = (options.artifacts or store.path.parent / "artifacts") / "nerd-onnx-int8"
    check = deploy.export_onnx(store, str(trained), bundle, int8=True)
    console.print(f"ONNX bundle {bundle}: max |Δlogit| {check.max_abs_logit_diff:.1e} (fp32),"
                  f" int8 dev F1 {check.dev_f1_fp32:.3f} -> {check.dev_f1_int8:.3f}")
    result = deploy.evaluate_bundle(bundle, data / "conll2003" / "test.txt")
    summary.append(("student, ONNX int8", result.report,
                    f"{result.sentences_per_second:.0f} sentences/s"))
    table = Table(title=f"nerd demo: CoNLL-2003 test ({time.perf_counter() - started:.0f} s in all)")
    for column in ("model", "P", "R", "micro F1", "notes"):
        table.add_column(column, justify="left" if column in ("model", "notes") else "right")
    for name, report, note in summary:
        cells = [f"{report.precision:.3f}", f"{report.recall:.3f}", f"{report.micro_f1:.3f}"] \
            if report else ["-", "-", "-"]
        table.add_row(name, *cells, note)
    console.print(table)
    return reports


def annotate_sample(store: Store, console: Console, size: int, model: str = "") -> int:
    """The first `size` sentences of distill-1000, labelled by the embedded teacher."""
    from core.annotate import RunConfig, annotate, build_prompt, open_run, small_teacher
    from models.backends import open_backend

    corpora.head(store, "distill-1000", f"distill-first-{size}", size)
    backend = open_backend("llama-cpp", model)
    prompt = build_prompt(store, "standard")
    # The small-teacher setting uses the human-labelled pool twice (nearest-neighbour examples
    # and its entity strings), which lifts the 270M teacher's F1 from 0.20 to 0.67
    # (bench/results/teacher.md).
    config = small_teacher(RunConfig(subset=f"distill-first-{size}", backend=backend.name,
                                     model=backend.model, pool="original-1000"))
    run = open_run(store, config, prompt)
    with bar(f"annotate {size} sentences") as advance:
        summary = annotate(store, run, backend, prompt, config, progress=advance)
    backend.close()
    console.print(f"annotation run {run}: {summary.done} sentences, {summary.asked} asked,"
                  f" {summary.from_store} from the store, {summary.seconds:.0f} s")
    return run


def _say(console: Console | None, text: str) -> None:
    if console:
        console.print(text)
