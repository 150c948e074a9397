"""The main job on the embedded defaults: what `nerd demo` (and `just demo`) runs.

Each step is idempotent, so running the job again after a crash picks up where it stopped.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from core import corpora, evaluate, layers
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


def run_demo(store: Store, data: Path, console: Console) -> dict[str, evaluate.Report]:
    """Import, sample, print the stats and the floor and ceiling any teacher is judged by."""
    import_defaults(store, data, console)
    sample_defaults(store)
    console.print(corpora.stats_table(corpora.stats(store)))
    reports = layers.score(store, "conll-test", "gold", ["lexicon:original-1000"])
    reports |= layers.score(store, "distill-1000", "gold", ["roundtrip"])
    console.print(evaluate.to_rich(
        reports, "Floor and ceiling: entities memorised from original-1000, scored on conll-test;"
        " gold turned into a teacher's dict and aligned back, on distill-1000",
    ))
    return reports


def _say(console: Console | None, text: str) -> None:
    if console:
        console.print(text)
