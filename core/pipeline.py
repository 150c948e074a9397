"""The main job on the embedded defaults: what `nerd demo` (and `just demo`) runs.

Each step is idempotent, so running the job again after a crash picks up where it stopped.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from core import corpora, evaluate, layers, quality
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
            result = corpora.import_text(store, data / "bbc", "bbc", progress=advance)
        _say(console, f"bbc: {result.sentences} sentences, {result.skipped_duplicates} duplicate"
             " articles dropped" if result.added else f"bbc: {result.sentences} sentences (already there)")


def sample_defaults(store: Store) -> list[str]:
    """The paper's subsets, drawn disjointly and seeded."""
    made = []
    have = {r[0] for r in store.db.execute("select name from datasets")}
    for name, dataset, size, exclude, min_tokens in PAPER_SUBSETS:
        if dataset in have:
            corpora.sample(store, dataset, name, size, SEED, list(exclude), min_tokens)
            made.append(name)
    return made


def run_demo(store: Store, data: Path, console: Console, annotate: int = 20,
             model: str = "") -> dict[str, evaluate.Report]:
    """Import, sample, print the stats, the floor and ceiling any teacher is judged by,
    and a small annotation run with the embedded teacher."""
    import_defaults(store, data, console)
    sample_defaults(store)
    console.print(corpora.stats_table(corpora.stats(store)))
    reports = layers.score(store, "conll-test", "gold", ["lexicon:original-1000"])
    reports |= layers.score(store, "distill-1000", "gold", ["roundtrip"])
    console.print(evaluate.to_rich(
        reports, "Floor and ceiling: entities memorised from original-1000, scored on conll-test;"
        " gold turned into a teacher's dict and aligned back, on distill-1000",
    ))
    if annotate:
        run = annotate_sample(store, console, annotate, model)
        teacher = quality.run_quality(store, run)
        if teacher.report:
            console.print(evaluate.to_rich({teacher.label: teacher.report},
                                           f"The teacher on {teacher.sentences} sentences"))
        console.print(quality.quality_table([teacher]))
    return reports


def annotate_sample(store: Store, console: Console, size: int, model: str = "") -> int:
    """The first `size` sentences of distill-1000, labelled by the embedded teacher."""
    from core.annotate import RunConfig, annotate, build_prompt, open_backend, open_run

    corpora.head(store, "distill-1000", f"distill-first-{size}", size)
    backend = open_backend("llama-cpp", model)
    prompt = build_prompt(store, "standard")
    config = RunConfig(f"distill-first-{size}", backend.name, backend.model, "standard")
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
